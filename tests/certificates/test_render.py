"""The certificate PDF itself: one A4 page, real text, the photo, a QR code that scans."""

import datetime as dt
import io
import shutil
import subprocess

import pypdf
import pytest

from app.certificates import render
from tests.factories import id_photo

URL = "https://safece.example.cn/verify/2026K7Q4M9XTHAB7"


def content(**fields) -> render.CertificateContent:
    values = dict(
        number="2026K7Q4M9XTHAB7",
        name="张安全",
        gender="男",
        id_masked="120101********123X",
        work_unit="天津某建设集团有限公司",
        batch_name="注册安全工程师继续教育 2026年第一期",
        minutes=1920,
        score=86.5,
        issue_date=dt.date(2026, 3, 2),
        centre_name="安全工程师继续教育培训中心",
        verify_url=URL,
    )
    values.update(fields)
    return render.CertificateContent(**values)


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render.render_pdf(content(), id_photo())


def test_render__one_a4_page_with_the_text_as_text(pdf):
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
    text = page.extract_text()
    assert "合格证书" in "".join(text.split())  # the title is spaced out
    for expected in (
        "张安全",
        "2026K7Q4M9XTHAB7",
        "120101********123X",
        "天津某建设集团有限公司",
        "注册安全工程师继续教育 2026年第一期",
        "48 学时（1920 分钟）",
        "86.5 分",
        "2026年3月2日",
        "安全工程师继续教育培训中心",
    ):
        assert expected in text, expected
    assert len(pdf) < 150_000


def test_render__photo_is_embedded_as_the_original_jpeg(pdf):
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    images = [x.get_object() for x in page["/Resources"]["/XObject"].values()]
    jpegs = [x for x in images if "/DCTDecode" in str(x.get("/Filter"))]
    assert (295, 412) in [(x["/Width"], x["/Height"]) for x in jpegs]


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbar-tools not installed: make test")
def test_render__qr_code_decodes_to_the_verification_url(pdf, tmp_path):
    (tmp_path / "c.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", "c.pdf", "c"], cwd=tmp_path, check=True
    )
    scanned = subprocess.run(
        ["zbarimg", "--raw", "-q", "c.png"], cwd=tmp_path, capture_output=True, text=True
    )
    assert scanned.stdout.strip() == URL


def test_render__long_names_still_fit_on_one_page():
    pdf = render.render_pdf(
        content(
            name="阿卜杜热合曼·买买提明",
            work_unit="中国某某能源化工集团有限公司天津分公司第三安全生产技术服务中心" * 2,
            batch_name="注册安全工程师继续教育（化工安全、金属冶炼安全方向）2026年第一期专项培训班",
        ),
        id_photo(),
    )
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    assert "阿卜杜热合曼·买买提明" in reader.pages[0].extract_text()


def test_render__unreadable_photo_is_refused_with_a_reason():
    with pytest.raises(render.RenderError, match="照片文件无法读取"):
        render.render_pdf(content(), b"\xff\xd8 this is no jpeg")


def test_write_certificate__missing_photo_file_is_refused(tmp_path):
    with pytest.raises(render.RenderError, match="照片文件缺失"):
        render.write_certificate(content(), tmp_path / "gone.jpg", tmp_path / "c.pdf")
    assert not (tmp_path / "c.pdf").exists()
