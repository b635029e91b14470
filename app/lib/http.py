"""Request parsing shared by the JSON routes of every area."""

from __future__ import annotations

from quart import request

from app.errors import AppError


async def json_body() -> dict:
    """The request's JSON object, or a Chinese refusal when it is anything else."""
    body = await request.get_json(silent=True)
    if not isinstance(body, dict):
        raise AppError("bad_request", "请求格式不正确")
    return body
