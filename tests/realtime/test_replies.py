"""What a socket event answers when its handler fails."""

from __future__ import annotations

import pytest
import redis.exceptions
import sqlalchemy.exc

from app.errors import AppError
from realtime.auth import replies_errors


def _failing(error: Exception):
    @replies_errors
    async def handler(sid, data=None):
        raise error

    return handler


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.ConnectionError("Connection closed by server."),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        sqlalchemy.exc.OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked")),
    ],
)
async def test_replies__an_unreachable_store_answers_busy_so_the_page_tries_again(error):
    reply = await _failing(error)("sid")

    assert reply == {"ok": False, "code": "busy", "message": "系统繁忙，请稍后再试"}


async def test_replies__a_refusal_answers_its_own_code_and_a_bug_internal():
    refusal = await _failing(AppError("not_joined", "请先进入考试页面", 409))("sid")
    bug = await _failing(KeyError("user_id"))("sid")

    assert refusal == {"ok": False, "code": "not_joined", "message": "请先进入考试页面"}
    assert bug["code"] == "internal" and "user_id" not in bug["message"]
