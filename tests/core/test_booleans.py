"""Booleans are never integers: JSON's ``true`` decodes as Python's True, which
``isinstance(x, int)`` takes for 1. Every JSON route and Socket.IO event that reads a number
refuses ``true`` and ``false`` with a Chinese message and changes nothing (``POST
/admin/uploads`` with ``"size": true`` once answered 500)."""

from __future__ import annotations

import json

import pytest

from app.lib import http
from tests.core.test_absurd_input import (
    PASSWORD,
    Client,
    invigilator_actions,
    refused,
    snapshot,
)
from tests.exams.conftest import SMALL, Exams, paper_of
from tests.factories import Factory, csrf_of, http_login, login


@pytest.mark.parametrize("value", [True, False])
def test_helpers__a_boolean_is_no_number(value):
    assert not http.is_int(value, -10, 10)
    assert not http.is_id(value)
    assert not http.is_number(value)
    with pytest.raises(http.AppError) as info:
        http.int_field({"n": value}, "n", "数量不正确", low=0)
    assert info.value.code == "bad_request" and info.value.message == "数量不正确"


def test_helpers__numbers_still_pass():
    assert http.is_int(0, 0, 5) and http.is_id(7) and http.is_number(1.5)
    assert not http.is_int(6, 0, 5) and not http.is_int(1.0, 0, 5)
    assert http.int_field({"n": 3}, "n", "x") == 3


async def _post(client, headers, path, body):
    response = await client.post(
        path, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
    )
    return response.status_code, await response.get_json()


async def test_admin_uploads__booleans_for_sizes_and_ids_are_refused(app, client, svc, factory):
    batch = await factory.batch("布尔值批次")
    courses, _ = await factory.courses(batch, [("课程", "public", True, [60], None)])
    admin = await factory.user(roles=("admin",), password=PASSWORD)
    await login(client, svc, admin.id_number, PASSWORD)
    headers = {"X-CSRF-Token": await csrf_of(client), "Accept": "application/json"}
    valid = {
        "purpose": "video",
        "target": {"course_id": courses[0].id},
        "name": "a.mp4",
        "size": 1000,
        "fingerprint": "a.mp4|1",
    }
    before = await snapshot(svc)
    for value in (True, False):
        for body in (
            {**valid, "size": value},
            {**valid, "target": {"course_id": value}},
            {**valid, "purpose": "material", "target": {"batch_id": value}},
        ):
            status, reply = await _post(client, headers, "/admin/uploads", body)
            assert refused(status, reply), (body, status, reply)
    assert await snapshot(svc) == before
    assert not await svc.redis.keys("upload:*")
    # The same upload with numbers begins.
    status, reply = await _post(client, headers, "/admin/uploads", valid)
    assert status == 200 and reply["received"] == 0


async def test_json_routes__booleans_for_numbers_are_refused(client, svc, factory):
    headers, actions = await invigilator_actions(client, svc, factory)
    cases = list(actions.items())
    before = await snapshot(svc)
    for path, valid in cases:
        for field in valid:
            if field in ("reason", "text"):
                continue
            for value in (True, False):
                status, reply = await _post(client, headers, path, {**valid, field: value})
                assert refused(status, reply), (path, field, value, reply)
    assert await snapshot(svc) == before


async def test_socket_events__booleans_for_numbers_are_refused(live_server, live_svc):
    exams = Exams(live_svc, Factory(live_svc))
    batch = await exams.batch(policy=SMALL)
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    token = await http_login(live_server.base_url, live_svc.redis, user.id_number, PASSWORD)
    study, exam = Client("/study"), Client("/exam")
    await study.connect(live_server.base_url, token)
    await exam.connect(live_server.base_url, token)
    question = paper_of(attempt)[0].question_id
    before = await snapshot(live_svc)
    for value in (True, False):
        cases = [
            (study, "start", {"video_id": value}),
            (exam, "join", {"attempt_id": value, "tab": "tab-bool-0001"}),
        ]
        for client, event, payload in cases:
            reply = await client.call(event, payload)
            assert reply["ok"] is False and reply["code"] == "bad_request", (event, reply)
    assert await snapshot(live_svc) == before
    assert (await exam.call("join", {"attempt_id": attempt.id, "tab": "tab-bool-0001"}))["ok"]
    play = (await study.call("start", {"video_id": batch.videos[0].id}))["token"]
    before = await snapshot(live_svc)
    for value in (True, False):
        cases = [
            (exam, "answer", {"question_id": value, "value": "A", "seq": 1}),
            (exam, "answer", {"question_id": question, "value": "A", "seq": value}),
            (exam, "message_read", {"message_id": value}),
            (study, "beat", {"token": play, "seq": value, "position": 1, "reason": "tick"}),
            (study, "beat", {"token": play, "seq": 1, "position": value, "reason": "tick"}),
        ]
        for client, event, payload in cases:
            reply = await client.call(event, payload)
            assert reply["ok"] is False and reply["code"] == "bad_request", (event, payload, reply)
    assert await snapshot(live_svc) == before
    await study.close()
    await exam.close()
