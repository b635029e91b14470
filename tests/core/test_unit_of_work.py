"""Core's unit of work: one transaction per ``svc.db.write()``; what was registered to
follow it (after-commit work, recorded events) runs once it has committed, never after a
rollback, and a failing follower neither undoes the commit nor stops the others."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from app import events
from app.accounts.models import User
from app.db import after_commit
from tests.factories import new_id_number


@dataclasses.dataclass(frozen=True)
class Happened:
    what: str


@pytest.fixture
def told():
    """Events of the test's own type, as their handler received them (in batches)."""
    batches: list[list[Happened]] = []

    @events.handles(Happened)
    async def handler(_svc, batch):
        batches.append(list(batch))

    yield batches
    events._handlers[Happened].remove(handler)


def _person(svc, name: str) -> User:
    now = svc.now()
    return User(
        id_number=new_id_number(),
        name=name,
        gender="男",
        password_hash="x",
        password_issued_at=now,
        created_at=now,
    )


async def _count(svc, name: str) -> int:
    async with svc.db.read() as db:
        return await db.scalar(select(func.count()).select_from(User).where(User.name == name))


async def test_write__events_and_work_follow_the_commit_in_order_and_in_one_batch(svc, told):
    seen: list[str] = []
    async with svc.db.write() as db:
        db.add(_person(svc, "甲提交"))
        events.record(db, Happened("one"))
        events.record(db, Happened("two"))
        after_commit(db, lambda: _note(seen, "work"))
        assert told == [] and seen == []  # nothing is told before the commit
    assert told == [[Happened("one"), Happened("two")]]  # one call with both
    assert seen == ["work"]
    assert await _count(svc, "甲提交") == 1


async def test_write__a_rollback_tells_nothing_and_runs_nothing(svc, told):
    seen: list[str] = []
    with pytest.raises(RuntimeError):
        async with svc.db.write() as db:
            db.add(_person(svc, "乙回滚"))
            await db.flush()
            events.record(db, Happened("never"))
            after_commit(db, lambda: _note(seen, "never"))
            raise RuntimeError("the unit fails")
    assert told == [] and seen == []
    assert await _count(svc, "乙回滚") == 0


async def test_write__a_failing_follower_keeps_the_commit_and_the_others_run(svc, told, caplog):
    seen: list[str] = []

    async def fails():
        raise ValueError("a page could not be told")

    async with svc.db.write() as db:
        db.add(_person(svc, "丙照常"))
        events.record(db, Happened("told"))
        after_commit(db, fails)
        after_commit(db, lambda: _note(seen, "still runs"))
    assert told == [[Happened("told")]] and seen == ["still runs"]
    assert await _count(svc, "丙照常") == 1
    assert "after-commit work failed" in caplog.text


async def test_write__each_unit_tells_only_its_own_events(svc, told):
    async with svc.db.write() as db:
        events.record(db, Happened("first"))
    async with svc.db.write() as db:
        events.record(db, Happened("second"))
    assert told == [[Happened("first")], [Happened("second")]]


async def _note(seen: list[str], what: str) -> None:
    seen.append(what)
