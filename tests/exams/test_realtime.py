"""Namespace /exam with real python-socketio clients against the running app and Redis."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import socketio

from app.exams import attempts
from tests.exams.conftest import SMALL, Exams, paper_of
from tests.factories import Factory, http_login

PASSWORD = "Str0ng-Pass!"
NS = "/exam"


class RecordingClient(socketio.AsyncClient):
    """A real client that also keeps every raw Engine.IO message it receives."""

    def __init__(self, **kwargs) -> None:
        super().__init__(reconnection=False, **kwargs)
        self.frames: list[str] = []
        self.events: list[tuple[str, object]] = []
        self.got: dict[str, asyncio.Event] = {}

        async def catch_all(event, data=None):
            self.events.append((event, data))
            self.got.setdefault(event, asyncio.Event()).set()

        self.on("*", catch_all, namespace=NS)

    async def _handle_eio_message(self, data):
        self.frames.append(data if isinstance(data, str) else repr(data))
        await super()._handle_eio_message(data)

    async def wait_for(self, event: str, timeout: float = 5.0):
        await asyncio.wait_for(self.got.setdefault(event, asyncio.Event()).wait(), timeout)
        return next(d for e, d in reversed(self.events) if e == event)

    async def ask(self, event: str, data=None):
        return await self.call(event, data if data is not None else {}, namespace=NS, timeout=10)


@pytest.fixture
async def live(live_server, live_svc):
    exams = Exams(live_svc, Factory(live_svc))
    clients: list[RecordingClient] = []

    async def connect(cookie: str | None, agent: str | None = None) -> RecordingClient:
        client = RecordingClient()
        headers = {"Cookie": f"safece_session={cookie}"} if cookie else {}
        if agent:
            headers["User-Agent"] = agent
        await client.connect(
            live_server.base_url,
            headers=headers,
            namespaces=[NS],
            transports=["websocket"],
            wait_timeout=10,  # a busy machine may take over a second to answer the handshake
        )
        clients.append(client)
        return client

    async def learner(policy=None):
        batch = await exams.batch(policy=policy)
        user = await exams.eligible(batch)
        attempt = await exams.start(user, batch)
        cookie = await http_login(live_server.base_url, live_svc.redis, user.id_number, PASSWORD)
        return batch, user, attempt, cookie

    exams.connect = connect
    exams.live_server = live_server
    exams.learner_with_attempt = learner
    yield exams
    for client in clients:
        if client.connected:
            await client.disconnect()


TAB1, TAB2 = "tab-11111111", "tab-22222222"


async def _answers(svc, attempt):
    async with svc.db.read() as db:
        return await attempts.answers_of(session=db, attempt_id=attempt.id)


async def test_answer__is_acknowledged_after_it_is_committed(live, live_svc):
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    joined = await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    assert joined["ok"] and joined["status"] == "open" and joined["answers"] == {}
    assert joined["deadline"] == int(attempt.deadline.timestamp() * 1000)
    assert joined["now"] == int(live_svc.now().timestamp() * 1000)
    qid = paper_of(attempt)[0].question_id
    ack = await client.ask("answer", {"question_id": qid, "value": "C", "seq": 1})
    assert ack == {"ok": True, "question_id": qid, "seq": 1}
    assert await _answers(live_svc, attempt) == {qid: ("C", 1)}


async def test_answer__lower_seq_is_acknowledged_but_never_overwrites(live, live_svc):
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    qid = paper_of(attempt)[0].question_id
    assert (await client.ask("answer", {"question_id": qid, "value": "B", "seq": 7}))["ok"]
    assert (await client.ask("answer", {"question_id": qid, "value": "A", "seq": 6}))["ok"]
    assert await _answers(live_svc, attempt) == {qid: ("B", 7)}


async def test_answer__many_at_once_are_all_committed(live, live_svc):
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    key = await live.key(attempt)
    acks = await asyncio.gather(
        *(
            client.ask("answer", {"question_id": qid, "value": value, "seq": n})
            for n, (qid, value) in enumerate(key.items(), 1)
        )
    )
    assert all(a["ok"] for a in acks)
    assert {q: v for q, (v, _s) in (await _answers(live_svc, attempt)).items()} == key


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        ({"question_id": 999999, "value": "A", "seq": 1}, "unknown_question", "该题不在您的试卷中"),
        ({"question_id": "QID", "value": 5, "seq": 1}, "bad_value", "答案格式不正确"),
        ({"question_id": "QID", "value": "AB", "seq": 1}, "bad_value", "单选题只能选择一个选项"),
        ({"question_id": "QID", "value": "Z", "seq": 1}, "bad_value", "所选选项不在本题选项中"),
        ({"question_id": "QID", "value": "A", "seq": -1}, "bad_request", "答案序号不正确"),
        ({"question_id": "QID", "value": "A", "seq": "1"}, "bad_request", "答案序号不正确"),
        ({"question_id": True, "value": "A", "seq": 1}, "bad_request", "题目编号不正确"),
        ({"question_id": "QID", "seq": 1}, "bad_value", "答案格式不正确"),
        (["not", "a", "dict"], "bad_request", "请求格式不正确"),
    ],
)
async def test_answer__bad_input_is_refused_and_changes_nothing(
    live, live_svc, payload, code, message
):
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    single = paper_of(attempt)[0].question_id
    if isinstance(payload, dict) and payload.get("question_id") == "QID":
        payload = {**payload, "question_id": single}
    reply = await client.ask("answer", payload)
    assert reply == {"ok": False, "code": code, "message": message}
    assert await _answers(live_svc, attempt) == {}


async def test_answer__before_joining_is_refused(live, live_svc):
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    reply = await client.ask(
        "answer", {"question_id": paper_of(attempt)[0].question_id, "value": "A", "seq": 1}
    )
    assert reply["code"] == "not_joined"


async def test_join__someone_elses_attempt_is_not_found(live, live_server, live_svc):
    _, _, attempt, _ = await live.learner_with_attempt()
    _, _, _, other_cookie = await live.learner_with_attempt()
    client = await live.connect(other_cookie)
    reply = await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    assert reply == {"ok": False, "code": "not_found", "message": "考试不存在或不属于您"}


@pytest.mark.parametrize(
    "payload", [{"attempt_id": 1}, {"attempt_id": "x", "tab": TAB1}, {"attempt_id": 1, "tab": "短"}]
)
async def test_join__malformed_request_is_refused(live, payload):
    _, _, _, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    reply = await client.ask("join", payload)
    assert reply["ok"] is False and reply["code"] == "bad_request"


async def test_join__after_reconnecting_resumes_with_every_answer(live, live_svc):
    _, _, attempt, cookie = await live.learner_with_attempt()
    first = await live.connect(cookie)
    await first.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    qid = paper_of(attempt)[-1].question_id  # a true/false question
    await first.ask("answer", {"question_id": qid, "value": "F", "seq": 3})
    await first.disconnect()
    second = await live.connect(cookie)
    joined = await second.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    assert joined["event"] == "reconnect"
    assert joined["answers"] == {str(qid): {"value": "F", "seq": 3}} and joined["max_seq"] == 3
    assert (await live.reload(attempt)).reconnects == 1


async def test_second_device__takes_over_and_the_first_is_told(live, live_svc):
    _, _, attempt, cookie = await live.learner_with_attempt()
    first = await live.connect(cookie)
    await first.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    second = await live.connect(cookie)
    joined = await second.ask("join", {"attempt_id": attempt.id, "tab": TAB2})
    assert joined["ok"] and joined["event"] == "takeover"
    told = await first.wait_for("taken_over")
    assert "已在其他窗口或设备上打开" in told["message"]
    async with asyncio.timeout(15):  # the server disconnects it after telling it
        while first.connected:
            await asyncio.sleep(0.05)
    row = await live.reload(attempt)
    assert row.tab == TAB2 and row.second_devices == 1


async def test_second_device__refused_when_the_batch_says_so(live, live_svc):
    _, _, attempt, cookie = await live.learner_with_attempt(
        policy={**SMALL, "second_device": "refuse"}
    )
    first = await live.connect(cookie)
    await first.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    second = await live.connect(cookie)
    reply = await second.ask("join", {"attempt_id": attempt.id, "tab": TAB2})
    assert reply["ok"] is False and reply["code"] == "second_device"
    assert first.connected
    row = await live.reload(attempt)
    assert row.tab == TAB1 and row.second_devices == 1


async def test_forfeit_policy__reopening_the_exam_ends_the_attempt(live, live_svc):
    _, _, attempt, cookie = await live.learner_with_attempt(
        policy={**SMALL, "disconnect_policy": "forfeit"}
    )
    first = await live.connect(cookie)
    await first.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    await first.disconnect()  # the browser was closed
    second = await live.connect(cookie)
    reply = await second.ask("join", {"attempt_id": attempt.id, "tab": TAB2})
    assert reply["status"] == "closed" and reply["event"] == "forfeited"
    assert reply["result"]["ended_by"] == "forfeited" and reply["result"]["score"] == 0
    assert "本次考试已作废" in reply["result"]["message"]


async def test_sync__returns_the_server_clock_and_the_deadline(live, live_svc, clock):
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    clock.advance(minutes=30)
    reply = await client.ask("sync")
    assert reply["now"] == int(clock.now().timestamp() * 1000)
    assert reply["deadline"] == int(attempt.deadline.timestamp() * 1000)
    assert reply["status"] == "open"


async def test_sync__after_the_deadline_submits_and_returns_the_result(live, live_svc, clock):
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    key = await live.key(attempt)
    for n, (qid, value) in enumerate(key.items(), 1):
        await client.ask("answer", {"question_id": qid, "value": value, "seq": n})
    clock.advance(minutes=120)
    late = await client.ask("answer", {"question_id": qid, "value": value, "seq": 99})
    assert late == {"ok": False, "code": "time_up", "message": "考试时间已到，答案不能再保存"}
    reply = await client.ask("sync")
    assert reply["status"] == "closed" and reply["result"]["score"] == 100
    pushed = await client.wait_for("submitted")
    assert pushed["ended_by"] == "time_up"


async def test_deadline__the_sweeper_submits_and_tells_the_page(live, live_svc, clock):
    from workers.exams import sweep_exam_deadlines

    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    qid = paper_of(attempt)[0].question_id
    await client.ask("answer", {"question_id": qid, "value": "A", "seq": 1})
    clock.advance(minutes=120)
    ctx = {"svc": live_svc}
    assert await sweep_exam_deadlines(ctx, lookahead=0) == 1
    pushed = await client.wait_for("submitted")
    assert pushed["attempt_id"] == attempt.id and pushed["ended_label"] == "时间到自动交卷"
    assert "您还有 2 次考试的机会" in pushed["message"]
    row = await live.reload(attempt)
    assert json.loads(row.graded_answers) == {str(qid): ["A", 1]}
    closed = await client.ask("answer", {"question_id": qid, "value": "B", "seq": 2})
    assert closed["code"] == "attempt_closed"
    assert await sweep_exam_deadlines(ctx, lookahead=0) == 0


async def test_deadline__the_arq_worker_submits_on_its_own(live, live_svc, clock, worker):
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    clock.advance(minutes=120)
    pushed = await client.wait_for("submitted", timeout=10)  # the cron runs every second
    assert pushed["ended_by"] == "time_up"


async def test_extend__the_page_is_told_and_syncs_return_the_new_deadline(live, live_svc, clock):
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    async with live_svc.db.write() as db:
        moved = await attempts.extend_deadline(
            session=db, attempt_id=attempt.id, minutes=15, now=live_svc.now()
        )
    pushed = await client.wait_for("deadline")
    expected = int(moved.deadline.timestamp() * 1000)
    assert pushed["deadline"] == expected
    assert (await client.ask("sync"))["deadline"] == expected
    clock.advance(minutes=125)  # past the old deadline, before the new one
    reply = await client.ask("sync")
    assert reply["status"] == "open" and reply["deadline"] == expected


async def test_sync__with_the_cache_gone_reads_the_database(live, live_svc, clock):
    from app.exams.live import deadline_key

    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    await live_svc.redis.delete(deadline_key(attempt.id))
    reply = await client.ask("sync")
    assert reply["deadline"] == int(attempt.deadline.timestamp() * 1000)
    assert await live_svc.redis.get(deadline_key(attempt.id)) == str(reply["deadline"])


async def test_focus__losses_are_recorded(live, live_svc):
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    assert (await client.ask("focus", {"state": "hidden"}))["ok"]
    assert (await client.ask("focus", {"state": "sideways"}))["code"] == "bad_request"
    assert (await live.reload(attempt)).focus_losses == 1


async def test_submit__hands_in_after_queued_answers(live, live_svc):
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    key = await live.key(attempt)
    for n, (qid, value) in enumerate(key.items(), 1):
        await client.emit("answer", {"question_id": qid, "value": value, "seq": n}, namespace=NS)
    reply = await client.ask("submit")
    assert reply["ok"] and reply["result"]["score"] == 100 and reply["result"]["passed"]


async def test_connect__phone_is_refused(live):
    _, _, _, cookie = await live.learner_with_attempt()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await live.connect(
            cookie, agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36"
        )


async def test_connect__without_a_session_is_refused(live):
    with pytest.raises(socketio.exceptions.ConnectionError):
        await live.connect(None)


async def test_secrets__no_answer_or_explanation_reaches_the_browser_before_submission(
    live, live_server, live_svc, clock
):
    _, user, attempt, cookie = await live.learner_with_attempt(policy={})
    secrets = await live.secrets(attempt)
    key = await live.key(attempt)
    assert len(secrets) > 50
    seen: list[str] = []
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(live_server.base_url, cookie_jar=jar) as http:
        http.cookie_jar.update_cookies({"safece_session": cookie})
        for path in ("/exams", f"/exams/attempts/{attempt.id}", "/exams/records"):
            async with http.get(path) as response:
                assert response.status == 200
                seen.append(await response.text())
        client = await live.connect(cookie)
        joined = await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
        for n, qid in enumerate(key, 1):
            await client.ask("answer", {"question_id": qid, "value": "", "seq": n})
        await client.ask("focus", {"state": "blur"})
        await client.ask("sync")
        seen += client.frames
        seen.append(json.dumps(joined, ensure_ascii=False))
    everything = "\n".join(seen)
    for secret in secrets:
        assert secret not in everything
    for field in ('"answer":', '"explanation"', '"correct', '"key"'):
        assert field not in everything
    # The whole answer key, in paper order, appears nowhere either.
    assert "".join(key.values()) not in everything
    assert user.id_number not in "".join(client.frames)


async def _pass_time(live_svc, clock, seconds: int, step: int = 5) -> None:
    """Let ``seconds`` go by without the browser sending anything: the app clock moves, every
    Redis key's TTL runs down (keys whose TTL runs out are gone, as Redis would drop them),
    and the server process's own timers run as they would (the presence heartbeat)."""
    sio = live_svc.emitter  # the Socket.IO server of the running app
    redis = live_svc.redis
    for _ in range(seconds // step):
        clock.advance(seconds=step)
        async for key in redis.scan_iter(count=1000):
            ttl = await redis.pttl(key)
            if ttl > 0:
                if ttl <= step * 1000:
                    await redis.delete(key)
                else:
                    await redis.pexpire(key, ttl - step * 1000)
        await sio.exam.presence.beat()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"second_device": "refuse"}, "second_device"),
        ({"disconnect_policy": "forfeit"}, "takeover"),
    ],
)
async def test_ownership__a_connected_tab_that_sent_nothing_for_95_s_keeps_its_paper(
    live, live_svc, clock, policy, expected
):
    _, _, attempt, cookie = await live.learner_with_attempt(policy={**SMALL, **policy})
    first = await live.connect(cookie)
    await first.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    # A background tab: its timers are throttled, so no sync for 95 s; the socket stays up.
    await _pass_time(live_svc, clock, 95)
    assert first.connected
    second = await live.connect(cookie)
    reply = await second.ask("join", {"attempt_id": attempt.id, "tab": TAB2})
    row = await live.reload(attempt)
    assert row.status == "open"  # never forfeited while the first tab is connected
    if expected == "second_device":
        assert reply["ok"] is False and reply["code"] == "second_device"
        assert row.tab == TAB1
    else:
        assert reply["ok"] and reply["event"] == "takeover"
        assert (await first.wait_for("taken_over"))["message"]


async def test_ownership__a_tab_whose_server_process_died_frees_the_paper(live, live_svc, clock):
    _, _, attempt, cookie = await live.learner_with_attempt(
        policy={**SMALL, "second_device": "refuse"}
    )
    first = await live.connect(cookie)
    await first.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    holder = await live_svc.redis.get(f"exam:owner:{attempt.id}")
    # The holder's process (another one, say) is gone: nobody refreshes its presence.
    process = holder.rsplit("|", 1)[1]
    await live_svc.redis.delete(f"exam:process:{process}")
    second = await live.connect(cookie)
    reply = await second.ask("join", {"attempt_id": attempt.id, "tab": TAB2})
    assert reply["ok"] and reply["event"] == "resume"
