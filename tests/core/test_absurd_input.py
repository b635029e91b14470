"""Absurd values in every JSON route and every Socket.IO event get a clean refusal and
change nothing (property-based, with hypothesis).

Absurd: integers far outside any id or range (a 401-digit one included: python-socketio's
own decoder dropped such a packet without a reply), NaN and infinities, wrong types. Each
route or event gets a valid payload with one field replaced; the reply must be a 4xx with a
Chinese ``{code, message}`` (over Socket.IO ``{ok: false, code, message}``), never a 500 or
silence, and the database must be exactly as before. Fields whose absurd values are merely
ignored (a rate above 1x earns nothing) must still change nothing.

Hypothesis drives synchronous functions: each property runs in a thread and hands every
example to the test's event loop, where the app, the server and the clients live.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from app.db import Base
from tests.exams.conftest import SMALL, Exams, paper_of
from tests.factories import Factory, csrf_of, http_login, login

PASSWORD = "Str0ng-Pass!"
CJK = re.compile(r"[\u4e00-\u9fff]")
EXAMPLES = 40

# Absurd for every field we take: numbers no id, position, seq or rate could be, special
# floats, and the wrong types. (A 401-digit integer is also sent by the tests below.)
absurd = st.one_of(
    st.integers(min_value=2**31, max_value=10**40),
    st.integers(min_value=-(10**40), max_value=-1),
    st.sampled_from([10**400, -(10**400), 10**24, 2**63, 2**64 + 1]),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308]),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# Text that no field takes: never a plain run of letters, digits, "-" or "_" (which could be a
# valid answer, tab id, token or phone number).
absurd_text = st.one_of(
    absurd, st.text(max_size=300).filter(lambda t: not re.fullmatch(r"[A-Za-z0-9_-]*", t))
)


def run_property(loop, strategy, check) -> None:
    """Run ``check(example)`` (a coroutine function) on ``loop`` for hypothesis' examples."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def prop(example):
        asyncio.run_coroutine_threadsafe(check(example), loop).result(timeout=60)

    prop()


async def drive(strategy, check) -> None:
    await asyncio.to_thread(run_property, asyncio.get_running_loop(), strategy, check)


async def snapshot(svc) -> dict[str, str]:
    """Every row of every table, in one statement: each table's rows, in key order, as one
    JSON array (a statement a table, twice an example, was most of these tests' time)."""
    async with svc.db.read() as db:
        row = (await db.execute(text(_snapshot_sql(svc.db.is_sqlite)))).one()
    return dict(zip((t.name for t in Base.metadata.sorted_tables), row, strict=True))


@functools.cache
def _snapshot_sql(sqlite: bool) -> str:
    quote = (sqlite_dialect if sqlite else postgresql_dialect).dialect().identifier_preparer.quote
    tables = []
    for table in Base.metadata.sorted_tables:
        columns = ", ".join(quote(c.name) for c in table.columns)
        keys = ", ".join(quote(c.name) for c in table.primary_key.columns)
        name = quote(table.name)
        if sqlite:
            tables.append(
                f"(SELECT json_group_array(json_array({columns}))"
                f" FROM (SELECT * FROM {name} ORDER BY {keys}))"
            )
        else:
            tables.append(
                f"(SELECT coalesce(json_agg(json_build_array({columns}) ORDER BY {keys}), '[]')"
                f" FROM {name})"
            )
    return "SELECT " + ",\n".join(tables)


def refused(status: int, body: object) -> bool:
    return (
        400 <= status < 500
        and isinstance(body, dict)
        and isinstance(body.get("code"), str)
        and bool(CJK.search(body.get("message", "")))
    )


@pytest.fixture
async def world(svc):
    """A learner enrolled in a batch with videos and an open exam attempt."""
    exams = Exams(svc, Factory(svc))
    batch = await exams.batch(policy=SMALL)
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    async with svc.db.write() as db:
        from app.accounts.models import User

        (await db.get(User, user.id)).tour_done = True
    return exams, batch, user, attempt


# ---------------------------------------------------------------------------- HTTP


# Every JSON route: its valid body, and the fields an absurd value must be refused in
# (others may be ignored, but still change nothing).
def http_routes(batch, attempt, token):
    video = batch.videos[0].id
    beat = {"token": token, "seq": 1, "position": 1.0, "reason": "tick", "rate": 1}
    return {
        "/api/study/start": ({"video_id": video}, {"video_id"}),
        "/api/study/beat": (beat, {"token", "seq", "position", "reason"}),
        "/api/study/stop": ({"token": token}, set()),
        "/api/study/answer": ({"token": token, "nonce": "n" * 16, "code": "ABCD"}, {"token"}),
        "/api/profile/phone/code": ({"phone": "13800000000"}, {"phone"}),
        "/api/profile/phone/bind": ({"phone": "13800000000", "code": "123456"}, {"phone", "code"}),
        "/api/tour/done": ({}, set()),
        f"/api/exams/{batch.batch.id}/start": ({}, set()),
        f"/api/exams/attempts/{attempt.id}/submit": None,  # hands the paper in: not fuzzed
        "/api/profile/photo": None,  # multipart, not JSON: tests/profile/test_photo.py
        # The invigilators' actions: driven below by an admin of a real session.
        **dict.fromkeys(INVIGILATE, None),
    }


INVIGILATE = (
    "/api/invigilate/1/messages",
    "/api/invigilate/1/extend",
    "/api/invigilate/1/force-submit",
    "/api/invigilate/1/void",
)


async def invigilator_actions(client, svc, factory) -> tuple[dict, dict[str, dict]]:
    """An admin signed in beside a running exam session with one learner's attempt: the
    JSON request headers, and each invigilator action's URL with a valid body."""
    from tests.invigilation.conftest import Proctoring

    proctoring = Proctoring(svc, factory)
    sitting = await proctoring.sitting(1, policy=SMALL)
    learner = sitting.learners[0]
    attempt = await proctoring.start(learner, sitting.batch)
    admin = await proctoring.admin()
    await login(client, svc, admin.id_number, PASSWORD)
    headers = {"X-CSRF-Token": await csrf_of(client), "Accept": "application/json"}
    base = f"/api/invigilate/{sitting.exam_session.id}"
    return headers, {
        f"{base}/messages": {"text": "请保持安静", "user_id": learner.id},
        f"{base}/extend": {"minutes": 5, "reason": "网络故障", "attempt_id": attempt.id},
        f"{base}/force-submit": {"attempt_id": attempt.id, "reason": "违纪"},
        f"{base}/void": {"attempt_id": attempt.id, "reason": "替考"},
    }


async def test_invigilator_actions__absurd_values_are_refused_and_change_nothing(
    client, svc, factory
):
    headers, actions = await invigilator_actions(client, svc, factory)
    # No None: an absent attempt or learner means "the whole session", a valid action.
    values = absurd.filter(lambda v: v is not None)
    for action, valid in actions.items():

        async def check(example, action=action, valid=valid):
            field, value = example
            before = await snapshot(svc)
            response = await client.post(
                action,
                data=json.dumps({**valid, field: value}),
                headers={**headers, "Content-Type": "application/json"},
            )
            body = await response.get_json()
            assert refused(response.status_code, body), (action, field, value, body)
            assert await snapshot(svc) == before, (action, field, value)

        await drive(st.tuples(st.sampled_from(sorted(valid)), values), check)


def _rule(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/<int>", path)


async def test_every_json_route__absurd_values_are_refused_and_change_nothing(
    app, client, svc, world
):
    exams, batch, user, attempt = world
    await login(client, svc, user.id_number, PASSWORD)
    headers = {"X-CSRF-Token": await csrf_of(client), "Accept": "application/json"}
    started = await client.post(
        "/api/study/start", json={"video_id": batch.videos[0].id}, headers=headers
    )
    token = (await started.get_json())["token"]
    routes = http_routes(batch, attempt, token)

    # Every JSON route of the app is in the table above (add new ones there).
    api = {
        re.sub(r"<int:\w+>", "<int>", r.rule)
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/") and "POST" in r.methods
    }
    assert api == {_rule(p) for p in routes}, "a JSON route is missing from this test"

    for path, spec in routes.items():
        if spec is None:
            continue
        valid, must_refuse = spec

        async def check(example, path=path, valid=valid, must_refuse=must_refuse):
            field, value = example
            before = await snapshot(svc)
            payload = {**valid, field: value}
            if field == "to":
                payload["reason"] = "seek"
            response = await client.post(
                path,
                data=json.dumps(payload),  # NaN and Infinity as Python writes them
                headers={**headers, "Content-Type": "application/json"},
            )
            body = await response.get_json()
            assert response.status_code < 500, (path, payload, body)
            if field in must_refuse:
                assert refused(response.status_code, body), (path, payload, body)
            assert await snapshot(svc) == before, (path, payload)

        fields = sorted({*valid, "to"} if "position" in valid else valid) or ["anything"]
        values = absurd_text if path.startswith("/api/profile") else absurd
        await drive(st.tuples(st.sampled_from(fields), values), check)


async def test_urls__ids_beyond_any_id_are_404_not_500(app, client, svc, world, factory):
    exams, batch, user, attempt = world
    admin = await factory.user(roles=("admin", "learner"))
    await login(client, svc, admin.id_number, PASSWORD)
    headers = {"X-CSRF-Token": await csrf_of(client), "Accept": "application/json"}
    before = await snapshot(svc)

    async def check(number):
        for method, path in [
            ("GET", f"/exams/attempts/{number}"),
            ("GET", f"/admin/learners/{number}"),
            ("GET", f"/courses/video/{number}"),
            ("GET", f"/admin/learners?batch={number}&page={number}"),
            ("POST", f"/api/exams/{number}/start"),
            ("POST", f"/api/exams/attempts/{number}/submit"),
        ]:
            response = await client.open(path, method=method, headers=headers)
            body = await response.get_json()
            assert response.status_code < 500, (path, body)
            if "?" not in path:
                assert refused(response.status_code, body), (path, body)

    await drive(st.integers(min_value=2**31, max_value=10**60), check)
    await check("9" * 25)
    assert await snapshot(svc) == before


async def test_json__a_401_digit_number_is_refused_not_a_500(client, svc, world):
    exams, batch, user, attempt = world
    await login(client, svc, user.id_number, PASSWORD)
    headers = {"X-CSRF-Token": await csrf_of(client), "Accept": "application/json"}
    huge = "9" * 401
    for path, raw in [
        ("/api/study/start", f'{{"video_id": {huge}}}'),
        ("/api/study/start", '{"video_id": 1000000000000000000000000}'),
        ("/api/study/beat", f'{{"token": "x" , "seq": 1, "position": {huge}}}'),
        (
            "/api/study/beat",
            f'{{"token": "xxxxxxxxxxxx", "seq": 1, "position": 1, "rate": {huge}}}',
        ),
        ("/api/profile/phone/code", f'{{"phone": {huge}}}'),
        ("/api/study/start", '{"video_id": ' + "9" * 5000 + "}"),
    ]:
        response = await client.post(
            path, data=raw, headers={**headers, "Content-Type": "application/json"}
        )
        assert refused(response.status_code, await response.get_json()), (path, raw[:60])


# ---------------------------------------------------------------------------- Socket.IO


class Client:
    """A python-socketio client on one namespace (it writes Python ints of any size as
    JSON integer literals: 10**400 goes out as 401 digits)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)

    async def connect(self, base_url: str, token: str) -> None:
        await self.sio.connect(
            base_url,
            headers={"Cookie": f"safece_session={token}"},
            namespaces=[self.namespace],
            transports=["websocket"],
            wait_timeout=10,
        )

    async def call(self, event: str, data) -> dict:
        return await self.sio.call(event, data, namespace=self.namespace, timeout=10)

    async def close(self) -> None:
        await self.sio.disconnect()


# Every event of every namespace: (namespace, event) -> its valid payload, the fields an
# absurd value must be refused in. ``join``, ``sync`` and ``submit`` act on the real
# attempt: join is fuzzed through its fields, sync and submit take no payload.
def socket_events(batch, attempt, token, question_id):
    beat = {"token": token, "seq": 1, "position": 1.0, "reason": "tick", "rate": 1}
    return {
        ("/study", "start"): ({"video_id": batch.videos[0].id}, {"video_id"}),
        ("/study", "beat"): (beat, {"token", "seq", "position", "reason"}),
        ("/study", "stop"): ({"token": token}, set()),
        ("/study", "answer"): ({"token": token, "nonce": "n" * 16, "code": "ABCD"}, {"token"}),
        ("/exam", "join"): (
            {"attempt_id": attempt.id, "tab": "tab-fuzz-0001"},
            {"attempt_id", "tab"},
        ),
        ("/exam", "answer"): (
            {"question_id": question_id, "value": "A", "seq": 1},
            {"question_id", "value", "seq"},
        ),
        ("/exam", "focus"): ({"state": "hidden"}, {"state"}),
        ("/exam", "message_read"): ({"message_id": 1}, {"message_id"}),
        ("/exam", "sync"): None,
        ("/exam", "submit"): None,
    }


async def test_every_socket_event__absurd_values_are_refused_and_change_nothing(
    live_server, live_svc, clock
):
    exams = Exams(live_svc, Factory(live_svc))
    batch = await exams.batch(policy=SMALL)
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    token = await http_login(live_server.base_url, live_svc.redis, user.id_number, PASSWORD)
    study, exam = Client("/study"), Client("/exam")
    await study.connect(live_server.base_url, token)
    await exam.connect(live_server.base_url, token)
    play = (await study.call("start", {"video_id": batch.videos[0].id}))["token"]
    assert (await exam.call("join", {"attempt_id": attempt.id, "tab": "tab-fuzz-0001"}))["ok"]
    question = paper_of(attempt)[0].question_id
    events = socket_events(batch, attempt, play, question)

    # Every event handler of every namespace is in the table above.
    sio = live_server.quart.extensions["sio"]
    handlers = {
        (ns, name[3:])
        for ns, handler in sio.namespace_handlers.items()
        if ns in ("/study", "/exam")
        for name in dir(handler)
        if name.startswith("on_") and name not in ("on_connect", "on_disconnect")
    }
    assert handlers == set(events), "a Socket.IO event is missing from this test"

    for (namespace, event), spec in events.items():
        if spec is None:
            continue
        valid, must_refuse = spec
        client = study if namespace == "/study" else exam

        async def check(example, event=event, valid=valid, must_refuse=must_refuse, c=client):
            field, value = example
            before = await snapshot(live_svc)
            payload = {**valid, field: value}
            if field == "to":
                payload["reason"] = "seek"
            reply = await c.call(event, payload)
            assert isinstance(reply, dict) and "ok" in reply, (event, payload, reply)
            if field in must_refuse:
                assert reply["ok"] is False and CJK.search(reply["message"]), (event, payload)
            assert await snapshot(live_svc) == before, (event, payload)

        fields = sorted({*valid, "to"} if "position" in valid else valid)
        await drive(st.tuples(st.sampled_from(fields), absurd_text), check)

    # A payload that is not an object at all.
    for (namespace, event), spec in events.items():
        if spec is not None:
            client = study if namespace == "/study" else exam
            for payload in (None, 7, "x", [1, 2]):
                reply = await client.call(event, payload)
                assert reply["ok"] is False or event == "stop", (event, payload, reply)
    await study.close()
    await exam.close()


async def test_socket__a_401_digit_number_gets_bad_request_not_silence(live_server, live_svc):
    exams = Exams(live_svc, Factory(live_svc))
    batch = await exams.batch(policy=SMALL)
    user = await exams.eligible(batch)
    await exams.start(user, batch)
    token = await http_login(live_server.base_url, live_svc.redis, user.id_number, PASSWORD)
    study, exam = Client("/study"), Client("/exam")
    await study.connect(live_server.base_url, token)
    await exam.connect(live_server.base_url, token)
    play = (await study.call("start", {"video_id": batch.videos[0].id}))["token"]
    huge = 10**400  # sent as a 401-digit JSON integer
    beat = {"token": play, "seq": 1, "position": 1, "reason": "tick"}
    cases = [
        (study, "beat", {**beat, "position": huge}),
        (study, "beat", {**beat, "rate": huge}),
        (study, "beat", {**beat, "seq": huge}),
        (study, "beat", {**beat, "reason": "seek", "to": -huge}),
        (study, "start", {"video_id": huge}),
        (exam, "join", {"attempt_id": huge, "tab": "tab-fuzz-0001"}),
        (exam, "join", {"attempt_id": -huge, "tab": "tab-fuzz-0001"}),
    ]
    for client, event, payload in cases:
        reply = await client.call(event, payload)
        assert reply["ok"] is False and reply["code"] == "bad_request", (event, reply)
        assert CJK.search(reply["message"])
    await study.close()
    await exam.close()


async def test_tables__are_what_the_snapshot_reads(svc):
    # The snapshot covers every table of the models (a guard for the test itself).
    async with svc.db.read() as db:
        names = {
            r[0]
            for r in await db.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table'")
                if svc.db.is_sqlite
                else text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        }
    assert {t.name for t in Base.metadata.sorted_tables} <= names


async def test_snapshot__sees_one_changed_value(svc, world):
    # The snapshot reads values, not only rows (a guard for the test itself).
    from app.accounts.models import User

    exams, batch, user, attempt = world
    before = await snapshot(svc)
    async with svc.db.write() as db:
        (await db.get(User, user.id)).tour_done = False

    assert await snapshot(svc) != before
