"""The printed application forms (PDF and Word): an initial form carries no rows for a
former registration, a re-registration shows the old (cancelled) number, a 逾期初始注册
says why it is late, and the credit lines add up."""

import io

import pypdf
from docx import Document

from app.accounts.models import User
from app.registration import applications, forms, submission


async def _form(svc, user) -> dict:
    async with svc.db.read() as db:
        application = await applications.get_open(session=db, user_id=user.id)
        return await submission.build_form(
            session=db, application=application, user=await db.get(User, user.id), now=svc.now()
        )


def _docx_text(form: dict) -> str:
    document = Document(io.BytesIO(forms.render_docx(form, None)))
    cells = [c.text for t in document.tables for r in t.rows for c in r.cells]
    return "\n".join(cells + [p.text for p in document.paragraphs])


def _pdf_text(form: dict) -> str:
    reader = pypdf.PdfReader(io.BytesIO(forms.render_pdf(form, None)))
    assert len(reader.pages) == 2
    return "".join(page.extract_text() for page in reader.pages)


async def test_initial_form__has_no_rows_for_a_former_registration(svc, reg, world):
    authority, _, _, user = world
    await reg.start(user)
    await reg.fill(user, authority)
    form = await _form(svc, user)
    assert form["registration"] is None and form["late"] is None
    for text in (_docx_text(form), _pdf_text(form)):
        assert "原注册编号" not in text and "原注册有效期" not in text and "逾期说明" not in text
        assert "资格证书编号" in text


async def test_reregistration_form__shows_the_old_cancelled_number(svc, reg, world, clock):
    authority, first, final, user = world
    old = await reg.registered(user, authority, first, final)
    await reg.cancel(old, "聘用单位已注销")
    clock.advance(days=30)
    await reg.start(user, "reregistration")
    await reg.fill(user, authority)
    form = await _form(svc, user)
    assert form["registration"]["number"] == old.number
    assert form["registration"]["state_label"] == "已注销"
    for text in (_docx_text(form), _pdf_text(form)):
        assert "原注册编号" in text and f"{old.number}（已注销）" in text
    assert form["title"] == "注册安全工程师重新注册申请表"


async def test_renewal_form__the_credit_line_adds_up(svc, reg, world, clock):
    authority, first, final, user = world
    registration = await reg.registered(user, authority, first, final)
    clock.advance(days=(registration.valid_until - registration.valid_from).days - 30)
    await reg.earned(user, 9)
    await reg.start(user, "renewal")
    form = await _form(svc, user)
    assert form["registration"]["state"] == "valid"
    docx, pdf = _docx_text(form), _pdf_text(form)
    assert "规定 48.0 学时，还差 47.8 学时" in docx
    assert "0.2" in docx and f"{registration.number}（" not in docx
    assert "合计0.2规定48.0学时，还差47.8学时" in "".join(pdf.split())
