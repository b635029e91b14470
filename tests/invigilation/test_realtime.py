"""Namespace /proctor with real python-socketio clients against the running app and Redis:
who may watch, the snapshot, versioned and coalesced deltas, and every action reaching
the learner's /exam page."""

from __future__ import annotations

import asyncio

import pytest
import socketio
from sqlalchemy import delete

from app.exams.statuses import EndedBy
from app.invigilation import actions, assignments
from app.invigilation import live as proctor_live
from app.invigilation.models import Assignment
from tests.exams.conftest import paper_of
from tests.factories import Factory, http_login
from tests.invigilation.conftest import PASSWORD, Proctoring

TAB = "tab-11111111"


class Client(socketio.AsyncClient):
    """A real client that keeps every event it receives, per namespace."""

    def __init__(self, namespace: str) -> None:
        super().__init__(reconnection=False)
        self.namespace = namespace
        self.events: list[tuple[str, object]] = []
        self.changed = asyncio.Condition()
        self.refusal: dict | None = None
        self.taken: dict[str, int] = {}

        async def catch_all(event, data=None):
            self.events.append((event, data))
            async with self.changed:
                self.changed.notify_all()

        self.on("*", catch_all, namespace=namespace)
        self.on("connect_error", self._refused, namespace=namespace)

    async def _refused(self, data):
        self.refusal = data

    async def ask(self, event: str, data=None):
        return await self.call(event, data if data is not None else {}, namespace=self.namespace)

    def received(self, event: str) -> list:
        return [d for e, d in self.events if e == event]

    async def wait_for(self, test, timeout: float = 5.0):
        """Wait until ``test()`` returns something truthy; return it."""

        async def until():
            async with self.changed:
                while not (found := test()):
                    await self.changed.wait()
                return found

        return await asyncio.wait_for(until(), timeout)

    async def wait_event(self, event: str, timeout: float = 5.0):
        """The next event of this name not returned before (it may have come already)."""
        n = self.taken.get(event, 0)
        found = await self.wait_for(
            lambda: self.received(event)[n] if len(self.received(event)) > n else None, timeout
        )
        self.taken[event] = n + 1
        return found

    def row_updates(self, uid: int) -> list[dict]:
        return [r for d in self.received("rows") for r in d["rows"] if r["uid"] == uid]

    async def wait_row(self, uid: int, test, timeout: float = 5.0) -> dict:
        return await self.wait_for(
            lambda: next((r for r in reversed(self.row_updates(uid)) if test(r)), None), timeout
        )


@pytest.fixture
async def room(live_server, live_svc):
    """A session with learners and its invigilator, and helpers to connect either side."""
    proctoring = Proctoring(live_svc, Factory(live_svc))
    clients: list[Client] = []

    async def connect(namespace: str, cookie: str, auth=None) -> Client:
        client = Client(namespace)
        clients.append(client)
        await client.connect(
            live_server.base_url,
            headers={"Cookie": f"safece_session={cookie}"},
            namespaces=[namespace],
            transports=["websocket"],
            auth=auth,
            wait_timeout=5,
        )
        return client

    async def login(user) -> str:
        return await http_login(live_server.base_url, live_svc.redis, user.id_number, PASSWORD)

    proctoring.connect = connect
    proctoring.login = login
    proctoring.base_url = live_server.base_url
    sitting = await proctoring.sitting(2)
    proctoring.sitting_ = sitting
    proctoring.invigilator_ = await proctoring.invigilator(sitting.exam_session)
    yield proctoring
    for client in clients:
        if client.connected:
            await client.disconnect()


async def _watch(room) -> tuple[Client, dict]:
    cookie = await room.login(room.invigilator_)
    dashboard = await room.connect(
        "/proctor", cookie, auth={"session_id": room.sitting_.exam_session.id}
    )
    snap = await dashboard.ask("snapshot")
    assert snap["ok"], snap
    return dashboard, snap


async def _sit(room, learner_index: int = 0) -> tuple[Client, object]:
    learner = room.sitting_.learners[learner_index]
    attempt = await room.start(learner, room.sitting_.batch)
    page = await room.connect("/exam", await room.login(learner))
    joined = await page.ask("join", {"attempt_id": attempt.id, "tab": TAB})
    assert joined["ok"], joined
    page.joined = joined
    return page, attempt


async def _refused(room, cookie, auth) -> dict:
    client = Client("/proctor")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            room.base_url,
            headers={"Cookie": f"safece_session={cookie}"},
            namespaces=["/proctor"],
            transports=["websocket"],
            auth=auth,
            wait_timeout=5,
        )
    return client.refusal


# ---------------------------------------------------------------------------- access


async def test_connect__only_assigned_invigilators_and_admins(room):
    sid = room.sitting_.exam_session.id
    stranger = await room.invigilator(name="李监考")
    refusal = await _refused(room, await room.login(stranger), {"session_id": sid})
    assert refusal["message"] == "您不是该考场的监考员，无权查看或操作"
    learner = await room.login(room.sitting_.learners[0])
    assert (await _refused(room, learner, {"session_id": sid}))["data"]["code"] == "forbidden"
    mine = await room.login(room.invigilator_)
    assert (await _refused(room, mine, None))["message"] == "请从监考页面进入考场"
    assert (await _refused(room, mine, {"session_id": "1"}))["data"]["code"] == "bad_request"
    admin = await room.login(await room.admin())
    watching = await room.connect("/proctor", admin, auth={"session_id": sid})
    assert (await watching.ask("snapshot"))["ok"]


async def test_snapshot__every_learner_and_the_version(room):
    dashboard, snap = await _watch(room)
    assert snap["version"] == 0 and snap["session"]["name"] == "第一考场"
    assert sorted(r["name"] for r in snap["rows"]) == ["考生1", "考生2"]
    assert {r["state"] for r in snap["rows"]} == {"waiting"}


async def test_every_event__checks_the_assignment_again(room, live_svc):
    dashboard, _ = await _watch(room)
    async with live_svc.db.write() as db:
        await db.execute(delete(Assignment))
    reply = await dashboard.ask("snapshot")
    assert reply == {
        "ok": False,
        "code": "forbidden",
        "message": "您不是该考场的监考员，无权查看或操作",
    }
    assert (await dashboard.ask("timeline", {"user_id": 1}))["code"] == "forbidden"


async def test_unassigning__disconnects_the_dashboard_at_once(room, live_svc):
    dashboard, _ = await _watch(room)
    admin = await room.admin()
    async with live_svc.db.write() as db:
        await assignments.unassign(
            session=db,
            session_id=room.sitting_.exam_session.id,
            user_id=room.invigilator_.id,
            now=live_svc.now(),
            actor_id=admin.id,
        )
    revoked = await dashboard.wait_event("revoked")
    assert revoked["message"] == "您已不再是该考场的监考员"
    await dashboard.wait_for(lambda: not dashboard.connected)


# ---------------------------------------------------------------------------- deltas


async def test_deltas__join_answers_focus_and_disconnect_reach_the_dashboard(room):
    dashboard, _ = await _watch(room)
    page, attempt = await _sit(room)
    uid = attempt.user_id
    online = await dashboard.wait_row(uid, lambda r: r["state"] == "online")
    assert online["aid"] == attempt.id and online["answered"] == 0 and online["total"] == 8
    qid = paper_of(attempt)[0].question_id
    assert (await page.ask("answer", {"question_id": qid, "value": "B", "seq": 1}))["ok"]
    await dashboard.wait_row(uid, lambda r: r["answered"] == 1)
    assert (await page.ask("focus", {"state": "hidden"}))["ok"]
    await dashboard.wait_row(uid, lambda r: r["focus"] == 1)
    await page.disconnect()
    gone = await dashboard.wait_row(uid, lambda r: r["state"] == "offline")
    assert gone["since"] is not None
    versions = [d["version"] for d in dashboard.received("rows")]
    assert versions == list(range(1, len(versions) + 1))


async def test_deltas__many_answers_are_coalesced_into_few_updates(room):
    dashboard, _ = await _watch(room)
    page, attempt = await _sit(room)
    uid = attempt.user_id
    await dashboard.wait_row(uid, lambda r: r["state"] == "online")
    before = len(dashboard.row_updates(uid))
    key = await room.key(attempt)
    acks = await asyncio.gather(
        *(
            page.ask("answer", {"question_id": q, "value": v, "seq": n})
            for n, (q, v) in enumerate(key.items(), 1)
        )
    )
    assert all(a["ok"] for a in acks) and len(acks) == 8
    await dashboard.wait_row(uid, lambda r: r["answered"] == 8)
    updates = len(dashboard.row_updates(uid)) - before
    assert 1 <= updates <= 3  # one per coalescer turn (250 ms), not one per answer
    versions = [d["version"] for d in dashboard.received("rows")]
    assert versions == list(range(1, len(versions) + 1))


async def test_deltas__the_version_is_shared_by_every_dashboard(room):
    first, _ = await _watch(room)
    second, _ = await _watch(room)
    page, attempt = await _sit(room)
    for dashboard in (first, second):
        await dashboard.wait_row(attempt.user_id, lambda r: r["state"] == "online")
    assert [d["version"] for d in first.received("rows")] == [
        d["version"] for d in second.received("rows")
    ]
    later, snap = await _watch(room)
    assert snap["version"] == first.received("rows")[-1]["version"]


# ---------------------------------------------------------------------------- actions


async def _act(live_svc, room, do, **kwargs):
    async with live_svc.db.write() as db:
        return await do(
            session=db,
            actor=actions.Actor(room.invigilator_),
            exam_session=room.sitting_.exam_session,
            now=live_svc.now(),
            **kwargs,
        )


async def test_message__banner_on_the_page_and_its_reading_on_the_dashboard(room, live_svc):
    dashboard, _ = await _watch(room)
    page, attempt = await _sit(room)
    other_page, _ = await _sit(room, 1)
    sent = await _act(
        live_svc, room, actions.send_message, user_id=attempt.user_id, text="请坐正，不要左右张望"
    )
    banner = await page.wait_event("message")
    assert banner == {
        "id": sent.id,
        "text": "请坐正，不要左右张望",
        "sent_at": banner["sent_at"],
        "scope": "you",
    }
    assert (await dashboard.wait_event("message_sent"))["uid"] == attempt.user_id
    to_all = await _act(live_svc, room, actions.send_message, user_id=None, text="还有30分钟")
    assert (await other_page.wait_event("message"))["scope"] == "all"
    assert other_page.received("message")[0]["id"] == to_all.id  # not the one to someone else
    read = await page.ask("message_read", {"message_id": sent.id})
    assert read["ok"] and read["message_id"] == sent.id
    row = await dashboard.wait_row(attempt.user_id, lambda r: str(sent.id) in r["reads"])
    assert row["reads"][str(sent.id)] == read["read_at"]
    refused = await other_page.ask("message_read", {"message_id": sent.id})
    assert refused["ok"] is False and refused["message"] == "消息不存在"


async def test_message__unread_ones_come_with_the_join(room, live_svc):
    attempt = await room.start(room.sitting_.learners[0], room.sitting_.batch)
    sent = await _act(live_svc, room, actions.send_message, user_id=None, text="请检查网络")
    page = await room.connect("/exam", await room.login(room.sitting_.learners[0]))
    joined = await page.ask("join", {"attempt_id": attempt.id, "tab": TAB})
    assert [m["id"] for m in joined["messages"]] == [sent.id]
    await page.ask("message_read", {"message_id": sent.id})
    rejoined = await page.ask("join", {"attempt_id": attempt.id, "tab": TAB})
    assert rejoined["messages"] == []


async def test_extend__the_countdown_moves_and_the_dashboard_shows_it(room, live_svc):
    dashboard, _ = await _watch(room)
    page, attempt = await _sit(room)
    await _act(live_svc, room, actions.extend, attempt_id=attempt.id, minutes=10, reason="网络故障")
    pushed = await page.wait_event("deadline")
    assert pushed["deadline"] == page.joined["deadline"] + 600_000
    assert pushed["added_seconds"] == 600
    await dashboard.wait_row(attempt.user_id, lambda r: r["deadline"] == pushed["deadline"])


async def test_force_submit__the_page_says_so_and_the_row_too(room, live_svc):
    dashboard, _ = await _watch(room)
    page, attempt = await _sit(room)
    await _act(live_svc, room, actions.force_submit, attempt_id=attempt.id, reason="违纪")
    submitted = await page.wait_event("submitted")
    assert submitted["ended_by"] == EndedBy.INVIGILATOR
    assert submitted["ended_label"] == "监考强制交卷"
    assert submitted["message"].startswith("监考强制交卷（原因：违纪）。")
    row = await dashboard.wait_row(attempt.user_id, lambda r: r["state"] == "forced")
    assert row["ended"] == "监考强制交卷"


async def test_void__the_page_says_so_and_the_row_too(room, live_svc):
    dashboard, _ = await _watch(room)
    page, attempt = await _sit(room)
    await _act(live_svc, room, actions.void, attempt_id=attempt.id, reason="替考")
    submitted = await page.wait_event("submitted")
    assert submitted["ended_label"] == "已作废" and "原因：替考" in submitted["message"]
    row = await dashboard.wait_row(attempt.user_id, lambda r: r["state"] == "voided")
    assert row["reason"] == "替考"


async def test_focus_rule__warns_then_submits_and_the_dashboard_follows(live_server, live_svc):
    from tests.exams.conftest import SMALL

    proctoring = Proctoring(live_svc, Factory(live_svc))
    sitting = await proctoring.sitting(policy={**SMALL, "focus_warn_at": 1, "focus_submit_at": 2})
    learner = sitting.learners[0]
    attempt = await proctoring.start(learner, sitting.batch)
    cookie = await http_login(live_server.base_url, live_svc.redis, learner.id_number, PASSWORD)

    async def page() -> Client:
        client = Client("/exam")
        await client.connect(
            live_server.base_url,
            headers={"Cookie": f"safece_session={cookie}"},
            namespaces=["/exam"],
            transports=["websocket"],
            wait_timeout=10,
        )
        return client

    first = await page()
    joined = await first.ask("join", {"attempt_id": attempt.id, "tab": TAB})
    assert joined["focus"]["submit_at"] == 2
    assert "累计离开 2 次系统将自动交卷" in joined["focus"]["rule"]
    warned = await first.ask("focus", {"state": "blur"})
    assert warned["focus_losses"] == 1 and "再离开一次，系统将自动交卷" in warned["warning"]
    await first.disconnect()
    # The same tab reconnects (a socket reports at most one loss a second).
    second = await page()
    try:
        assert (await second.ask("join", {"attempt_id": attempt.id, "tab": TAB}))["focus"][
            "count"
        ] == 1
        ended = await second.ask("focus", {"state": "hidden"})
        assert ended["result"]["ended_label"] == "多次离开页面自动交卷"
        assert (await second.wait_event("submitted"))["attempt_id"] == attempt.id
    finally:
        await second.disconnect()


async def test_dirty_marks__answers_only_add_the_learner_to_a_set(room, live_svc):
    page, attempt = await _sit(room)
    key = proctor_live.dirty_key(room.sitting_.exam_session.id)
    await live_svc.redis.delete(key)
    qid = paper_of(attempt)[0].question_id
    await page.ask("answer", {"question_id": qid, "value": "A", "seq": 1})
    # Marked shortly after the acknowledgement (app.invigilation.live.Marks).
    for _ in range(100):
        if await live_svc.redis.exists(key):
            break
        await asyncio.sleep(proctor_live.MARK_SECONDS / 2)
    assert await live_svc.redis.smembers(key) == {str(attempt.user_id)}
