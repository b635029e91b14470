"""What every administration page shares: the blueprint, the side menu, rendering, the
acting admin, form errors and file responses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import quote

from quart import Blueprint, Response, render_template, request, url_for

from app.accounts import auth
from app.accounts.roles import ROLE_LABELS
from app.audit import service as audit
from app.errors import AppError, Invalid, NotFound
from app.lib import admin_menu, http
from app.lib.forms import local_input
from app.services import services

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Pages whose address is not under their section's: the section they belong to.
SECTION_OF = {
    "/admin/questions/": "admin.banks",
    "/admin/videos/": "admin.courses",
    "/admin/exports/": "admin.reports",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def render(template: str, **context):
    """An admin page with the side menu."""
    sections = admin_menu.visible()
    section = next((ep for prefix, ep in SECTION_OF.items() if request.path.startswith(prefix)), "")
    return await render_template(
        template,
        sections=sections,
        section_href=url_for(section) if section else "",
        role_labels=ROLE_LABELS,
        local_input=local_input,
        **context,
    )


def int_arg(name: str, default: int | None = None) -> int | None:
    """An integer query parameter, or the default when absent, not a number or absurd."""
    return http.arg_int(name, default)


def actor() -> audit.Actor:
    """The admin making this request, and from where."""
    return audit.Actor(auth.current_user().id, auth.client_ip(services().config.trust_proxy))


def download(body, filename: str, fallback: str, mimetype: str = XLSX) -> Response:
    """A file to save, with its Chinese name (RFC 5987) and an ASCII name for old clients."""
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def admin_page(view: Callable) -> Callable:
    """Admins only."""
    return auth.require_role("admin")(view)


def refused_on(page: Callable) -> Callable:
    """Show a refused action's message on `page` (with the refusal's status) instead of an
    error page; a missing object stays a 404."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        async def wrapper(*args, **kwargs):
            try:
                return await view(*args, **kwargs)
            except NotFound:
                raise
            except AppError as error:
                return await page(error=error.message, status=error.status)

        return wrapper

    return decorator


def with_form_errors(page: Callable) -> Callable:
    """Render a refused form again with each message next to its field (status 400)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        async def wrapper(*args, **kwargs):
            try:
                return await view(*args, **kwargs)
            except Invalid as error:
                form = dict((await request.form).items())
                body = await page(*args, errors=error.fields, form=form, **kwargs)
                return body, 400

        return wrapper

    return decorator
