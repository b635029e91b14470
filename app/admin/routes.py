"""管理: the administration pages."""

from __future__ import annotations

from quart import Blueprint, render_template

from app.accounts import auth
from app.accounts.models import User
from app.errors import NotFound
from app.profile.routes import send_photo
from app.services import services

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("")
@auth.require_role("admin")
async def index():
    """The administration home."""
    return await render_template("admin/index.html")


@bp.get("/users/<int:user_id>/photo")
@auth.require_role("admin")
async def user_photo(user_id: int):
    """Any learner's photo, for admins."""
    async with services().db.read() as db:
        user = await db.get(User, user_id)
    if user is None:
        raise NotFound("学员不存在")
    return await send_photo(user)
