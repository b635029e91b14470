"""The ID photo goes through the in-page cropper with the site's Content-Security-Policy
enforced, for a learner and for a registration applicant (who holds no learner role)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from tests.e2e.conftest import browser_login, loaded_image_size, shot
from tests.factories import Factory


def portrait(path, size=(900, 1200), fmt="JPEG") -> None:
    """A 'portrait' on blue, larger than allowed: the cropper scales and cuts it."""
    image = Image.new("RGB", size, (67, 142, 219))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w // 3, h // 5, 2 * w // 3, h // 2), fill=(241, 200, 170))
    draw.rectangle((w // 4, h // 2, 3 * w // 4, h), fill=(30, 40, 60))
    out = io.BytesIO()
    image.save(out, fmt)
    path.write_bytes(out.getvalue())


@pytest.mark.parametrize(
    ("role", "size", "fmt"),
    [("learner", (900, 1200), "JPEG"), ("registrant", (295, 412), "PNG")],
)
async def test_photo__cropper_uploads_under_the_csp(page, live_svc, tmp_path, role, size, fmt):
    user = await Factory(live_svc).user(roles=(role,), name="照片测试")
    await browser_login(page, live_svc.redis, user.id_number, "Str0ng-Pass!")
    await page.goto("/profile")
    source = tmp_path / f"photo.{fmt.lower()}"
    portrait(source, size, fmt)
    await page.set_input_files("#photo-file", str(source))
    await page.locator("#cropper").wait_for(state="visible")
    assert f"原图 {size[0]}×{size[1]} 像素" in await page.locator("#photo-msg").inner_text()
    await page.click("#photo-upload")
    assert await loaded_image_size(page, "#my-photo") == [295, 412]
    await shot(page, f"photo-{role}-done")


async def test_photo__staff_are_not_asked_for_one(page, live_svc):
    user = await Factory(live_svc).user(roles=("invigilator",))
    await browser_login(page, live_svc.redis, user.id_number, "Str0ng-Pass!")
    await page.goto("/profile")
    assert await page.locator("#photo-file").count() == 0
