"""Sending a stored ID photo: to its owner, and to staff allowed to see it."""

from __future__ import annotations

from quart import send_file

from app.accounts.models import User
from app.errors import NotFound
from app.profile import service
from app.services import services


async def send_photo(user: User):
    """Stream a stored photo with headers that keep it out of shared caches."""
    path = service.photo_path(services().config, user)
    if path is None:
        raise NotFound("尚未上传照片")
    response = await send_file(path, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, no-store"
    return response
