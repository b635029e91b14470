"""Certificates: the learner's page and downloads, public verification (证书管理 is in app/admin)."""

from __future__ import annotations

from urllib.parse import quote

from quart import (
    Blueprint,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from app.accounts import auth
from app.certificates import numbers, service
from app.certificates.states import STATE_LABELS
from app.services import services

bp = Blueprint("certificates", __name__)

LEARNER_NOTICES = {
    "queued": "已重新提交生成，请稍候刷新本页查看。",
}


# ---------------------------------------------------------------------------- learner


@bp.get("/certificates")
@auth.login_required
async def index():
    """我的证书: each passed exam's certificate with 生成中 / 下载 / 打印."""
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        rows = await service.certificates_of(session=db, user_id=user.id)
    return await render_template(
        "certificates/index.html",
        rows=rows,
        has_photo=bool(user.photo_file),
        pending=any(r.pending for r in rows),
        notice=LEARNER_NOTICES.get(request.args.get("done", "")),
        state_labels=STATE_LABELS,
    )


@bp.post("/certificates/<int:attempt_id>/regenerate")
@auth.login_required
async def regenerate(attempt_id: int):
    """重新生成: queue a certificate again once the learner has uploaded the photo."""
    svc = services()
    async with svc.db.write() as db:
        await service.regenerate(
            session=db, user_id=auth.current_user().id, attempt_id=attempt_id, now=svc.now()
        )
    return redirect(url_for("certificates.index", done="queued"))


@bp.get("/certificates/<number>.pdf")
@auth.login_required
async def download(number: str):
    """The PDF, for its owner or an admin: inline for printing, ?download=1 to save it."""
    svc = services()
    async with svc.db.read() as db:
        certificate, path = await service.get_for_download(
            session=db, number=number, user=auth.current_user(), config=svc.config
        )
    response = await send_file(path, mimetype="application/pdf")
    disposition = "attachment" if request.args.get("download") == "1" else "inline"
    name = f"合格证书-{certificate.number}.pdf"
    # RFC 5987 filename* keeps the Chinese name; the ASCII one is for old clients.
    response.headers["Content-Disposition"] = (
        f'{disposition}; filename="certificate-{certificate.number}.pdf"; '
        f"filename*=UTF-8''{quote(name)}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# ---------------------------------------------------------------------------- public


@bp.get("/verify")
async def verify_form():
    """证书核验: a form to type a certificate number (no login needed)."""
    number = request.args.get("number", "").strip()
    if number:
        value = numbers.normalise_number(number) or number[:40]
        return redirect(url_for("certificates.verify", number=value))
    return await render_template("certificates/verify.html", result=None)


@bp.get("/verify/<number>")
async def verify(number: str):
    """Public verification of a certificate number: 有效 / 已撤销 / 未找到."""
    svc = services()
    async with svc.db.read() as db:
        result = await service.verify(session=db, number=number, config=svc.config)
    status = 404 if result.status == "unknown" else 200
    return await render_template("certificates/verify.html", result=result), status
