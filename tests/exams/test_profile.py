"""SAFECE_PROFILE: a server process reports each second where an answer's time went."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.exams.conftest import paper_of
from tests.exams.test_realtime import TAB1, live  # noqa: F401  (the fixture)


@pytest.fixture
def profile(config, tmp_path):
    config.profile = str(tmp_path / "profile.jsonl")
    return tmp_path / "profile.jsonl"


async def test_profile__an_answer_shows_in_the_servers_second(profile, live, live_svc):  # noqa: F811
    _, _, attempt, cookie = await live.learner_with_attempt()
    client = await live.connect(cookie)
    await client.ask("join", {"attempt_id": attempt.id, "tab": TAB1})
    qid = paper_of(attempt)[0].question_id

    ack = await client.ask("answer", {"question_id": qid, "value": "A", "seq": 1})
    lines: list[dict] = []
    for _ in range(500):
        if profile.exists():
            lines = [json.loads(raw) for raw in profile.read_text().splitlines()]
        if any("answer" in line for line in lines):
            break
        await asyncio.sleep(0.01)

    assert ack["ok"]
    [second] = [line for line in lines if "answer" in line]
    assert second["answer"]["n"] == 1
    # The answer's points fall in its second, or (a second boundary between them) the one
    # before: the commit began before the handler returned.
    points = {point for line in lines for point in line}
    assert sum(line.get("commit.size", {}).get("n", 0) for line in lines) == 1
    assert {"commit.wait", "commit.hold", "commit.queue", "loop.lag"} <= points
    assert "read.hold" in points  # the join read the answers back
    if live_svc.db.is_sqlite:
        assert "commit.end" in points and second["wal_mb"] > 0
