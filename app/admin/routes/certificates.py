"""证书管理: failed and recent certificate jobs, with retry and revoke."""

from __future__ import annotations

from quart import redirect, request, url_for

from app.admin.routes.common import actor, admin_page, bp, refused_on, render
from app.certificates import issuing, service
from app.certificates.states import STATE_LABELS
from app.services import services

NOTICES = {
    "retried": "已重新加入生成队列。",
    "retried_all": "生成失败的证书已全部重新加入生成队列，稍后刷新查看。",
    "none_failed": "没有生成失败的证书。",
    "revoked": "证书已撤销，核验页面将显示“已撤销”。",
}


async def _admin_page(*, error: str | None = None, status: int = 200):
    svc = services()
    state = request.args.get("state", "")
    state = state if state in service.ADMIN_FILTERS else ""
    query = request.args.get("q", "").strip()[:50]
    try:
        number = max(1, int(request.args.get("page", "1")))
    except ValueError:
        number = 1
    async with svc.db.read() as db:
        page = await service.admin_list(session=db, state=state, query=query, page=number)
        counts = await service.admin_counts(session=db)
        failed = await service.failed_count(session=db)
    shown = {k: v for k, v in {"state": state, "q": query}.items() if v}
    body = await render(
        "admin/certificates.html",
        page=page,
        counts=counts,
        filters=service.ADMIN_FILTERS,
        state=state,
        query=query,
        page_url=lambda n: url_for("admin.certificates", **shown, page=n),
        state_labels=STATE_LABELS,
        max_tries=issuing.MAX_TRIES,
        failed=failed,
        notice=NOTICES.get(request.args.get("done", "")),
        error=error,
    )
    return body, status


def _back(done: str):
    # Back to the list the admin was looking at (only our own query string is kept).
    keep = {k: request.args[k] for k in ("state", "q", "page") if request.args.get(k)}
    return redirect(url_for("admin.certificates", **keep, done=done))


@bp.get("/certificates")
@admin_page
async def certificates():
    """证书管理: failed and recent certificate jobs, with retry and revoke."""
    return await _admin_page()


@bp.post("/certificates/<int:certificate_id>/retry")
@admin_page
@refused_on(_admin_page)
async def certificate_retry(certificate_id: int):
    """重试: put a failed or stuck certificate back in the queue now."""
    svc = services()
    who = actor()
    async with svc.db.write() as db:
        await service.retry(
            session=db,
            certificate_id=certificate_id,
            now=svc.now(),
            actor_id=who.id,
            ip=who.ip,
        )
    return _back("retried")


@bp.post("/certificates/retry-failed")
@admin_page
async def certificate_retry_failed():
    """全部重试: every failed certificate back in the queue (each retry audited)."""
    svc = services()
    who = actor()
    async with svc.db.write() as db:
        queued = await service.retry_failed(session=db, now=svc.now(), actor_id=who.id, ip=who.ip)
    return _back("retried_all" if queued else "none_failed")


@bp.post("/certificates/<int:certificate_id>/revoke")
@admin_page
@refused_on(_admin_page)
async def certificate_revoke(certificate_id: int):
    """撤销: revoke an issued certificate with a reason."""
    svc = services()
    form = await request.form
    who = actor()
    async with svc.db.write() as db:
        await service.revoke(
            session=db,
            certificate_id=certificate_id,
            reason=form.get("reason", ""),
            now=svc.now(),
            actor_id=who.id,
            ip=who.ip,
        )
    return _back("revoked")
