import io
import os
import struct
import zlib

import pytest
from PIL import Image

from tests.factories import csrf_of, login

PASSWORD = "Str0ng-Pass!"


def image_bytes(size=(295, 412), fmt="JPEG", colour=(40, 90, 200), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt, **save)
    return out.getvalue()


def noisy_jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, "JPEG", quality=100)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions: a decompression bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
async def learner(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)
    return user


async def upload(client, data: bytes, filename="photo.jpg"):
    from quart.datastructures import FileStorage

    files = {"photo": FileStorage(io.BytesIO(data), filename=filename)}
    response = await client.post(
        "/api/profile/photo", files=files, form={"csrf_token": await csrf_of(client)}
    )
    return response.status_code, await response.get_json()


async def test_photo__valid_jpeg_is_stored_re_encoded_and_shown(client, svc, learner):
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    data = image_bytes(exif=exif.tobytes())
    status, body = await upload(client, data)
    assert status == 200, body
    async with svc.db.read() as db:
        user = await db.get(type(learner), learner.id)
    stored = svc.config.photo_dir / user.photo_file
    assert stored.is_file()
    assert b"SecretCameraMaker" not in stored.read_bytes()  # only pixels are kept
    assert Image.open(stored).size == (295, 412)
    assert not str(stored).startswith(str(svc.config.data_dir.parent / "static"))
    response = await client.get("/profile/photo")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    page = await (await client.get("/profile")).get_data(as_text=True)
    assert 'id="my-photo"' in page


async def test_photo__png_is_accepted(client, learner):
    assert (await upload(client, image_bytes(fmt="PNG"), "photo.png"))[0] == 200


async def test_photo__600_kb_is_refused_with_its_size(client, learner):
    data = noisy_jpeg((600, 700))
    assert len(data) > 600 * 1024
    status, body = await upload(client, data)
    # Refused before the body is read, from its declared length.
    assert status == 413 and body["code"] == "too_large"
    assert body["message"].startswith("照片大小约为 ") and "须小于 500 KB" in body["message"]


async def test_photo__just_over_500_kb_is_refused_with_its_size(client, learner):
    data = noisy_jpeg((520, 560))
    assert 500 * 1024 < len(data) < 590 * 1024, len(data)
    status, body = await upload(client, data)
    assert status == 400 and body["code"] == "photo_too_big"
    assert f"{-(-len(data) // 1024)} KB" in body["message"] and "500 KB" in body["message"]


async def test_photo__wrong_dimensions_are_refused_with_the_actual_ones(client, learner):
    status, body = await upload(client, image_bytes(size=(300, 400)))
    assert body["code"] == "photo_dimensions"
    assert "295×412" in body["message"] and "300×400" in body["message"]


async def test_photo__gif_is_refused_with_its_format(client, learner):
    status, body = await upload(client, image_bytes(fmt="GIF"), "photo.gif")
    assert body["code"] == "photo_format" and "GIF" in body["message"]


async def test_photo__gif_renamed_to_jpg_is_refused(client, learner):
    status, body = await upload(client, image_bytes(fmt="GIF"), "photo.jpg")
    assert body["code"] == "photo_format" and "GIF" in body["message"]


async def test_photo__text_file_is_refused(client, learner):
    status, body = await upload(client, b"not an image at all", "photo.jpg")
    assert body["code"] == "photo_format" and "无法识别" in body["message"]


async def test_photo__truncated_jpeg_is_refused(client, learner):
    data = noisy_jpeg((295, 412))
    status, body = await upload(client, data[: len(data) // 2])
    assert body["code"] == "photo_corrupt"


async def test_photo__decompression_bomb_is_refused_without_decoding(client, learner):
    status, body = await upload(client, png_header_only(60000, 60000), "bomb.png")
    assert status == 400 and body["code"] == "photo_dimensions"


async def test_photo__missing_file_is_refused(client, learner):
    response = await client.post("/api/profile/photo", form={"csrf_token": await csrf_of(client)})
    assert (await response.get_json())["message"] == "请选择要上传的照片"


async def test_photo__second_upload_is_refused(client, svc, learner):
    assert (await upload(client, image_bytes()))[0] == 200
    status, body = await upload(client, image_bytes(colour=(0, 0, 255)))
    assert status == 409 and "只能上传一次" in body["message"]
    assert len(list(svc.config.photo_dir.iterdir())) == 1


async def test_photo__refusals_store_nothing(client, svc, learner):
    await upload(client, image_bytes(size=(300, 400)))
    async with svc.db.read() as db:
        assert (await db.get(type(learner), learner.id)).photo_file is None
    assert not svc.config.photo_dir.exists() or not any(svc.config.photo_dir.iterdir())


async def test_photo__other_learner_cannot_fetch_it(app, client, svc, learner, factory):
    await upload(client, image_bytes())
    other = await factory.user()
    other_client = app.test_client()
    await login(other_client, svc, other.id_number, PASSWORD)
    assert (await other_client.get(f"/admin/users/{learner.id}/photo")).status_code == 403
    assert (await other_client.get("/profile/photo")).status_code == 404  # has none of their own
    anonymous = app.test_client()
    assert (await anonymous.get("/profile/photo")).status_code == 302


async def test_photo__admin_can_fetch_it(app, client, svc, learner, factory):
    await upload(client, image_bytes())
    admin = await factory.user(roles=("admin",))
    admin_client = app.test_client()
    await login(admin_client, svc, admin.id_number, PASSWORD)
    response = await admin_client.get(f"/admin/users/{learner.id}/photo")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"


def jpeg_segments(data: bytes) -> list[int]:
    """The marker of every segment before the image data (SOS) of a JPEG file."""
    assert data[:2] == b"\xff\xd8"
    markers, at = [], 2
    while at < len(data):
        assert data[at] == 0xFF
        marker = data[at + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return markers
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        at += 2 + length
    return markers


def loaded_jpeg(**extra) -> bytes:
    """A photo carrying a comment, EXIF, an ICC profile and XMP."""
    from PIL import ImageCms

    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    exif[0x9286] = "SecretUserComment"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">SecretXmp</x:xmpmeta>'
    return image_bytes(
        comment=b"SecretComment <script>", exif=exif.tobytes(), icc_profile=icc, xmp=xmp, **extra
    )


def loaded_png() -> bytes:
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("comment", "SecretComment")
    meta.add_text("Description", "SecretDescription")
    meta.add_itxt("XML:com.adobe.xmp", "SecretXmp")
    return image_bytes(fmt="PNG", pnginfo=meta)


@pytest.mark.parametrize(("kind", "make"), [("jpeg", loaded_jpeg), ("png", loaded_png)])
async def test_photo__only_pixels_survive_re_encoding(client, svc, learner, kind, make):
    data = make()
    assert b"SecretComment" in data
    status, body = await upload(client, data, f"photo.{'jpg' if kind == 'jpeg' else 'png'}")
    assert status == 200, body
    async with svc.db.read() as db:
        user = await db.get(type(learner), learner.id)
    stored = (svc.config.photo_dir / user.photo_file).read_bytes()
    assert b"Secret" not in stored and b"<script>" not in stored
    # SOI, then only JFIF (APP0), quantisation and Huffman tables, the frame and the scan:
    # no COM (0xFE), no APP1 (EXIF, XMP), no APP2 (ICC) or any other application segment.
    assert set(jpeg_segments(stored)) <= {0xE0, 0xDB, 0xC4, 0xC0, 0xC2, 0xDA}
    image = Image.open(io.BytesIO(stored))
    for key in ("comment", "exif", "icc_profile", "xmp", "XML:com.adobe.xmp"):
        assert key not in image.info
    assert image.size == (295, 412) and image.getpixel((10, 10))[2] > 150  # still the blue
