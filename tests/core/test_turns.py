"""Write turns: one holder; a waiting group commit goes before waiting ordinary writers."""

from __future__ import annotations

import asyncio

import pytest

from app.lib.turns import Turns


async def _take(turns: Turns, name: str, order: list[str], hold: asyncio.Event, *, urgent=False):
    async with turns.turn(urgent=urgent):
        order.append(name)
        await hold.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_turns__urgent_waiters_go_first_then_the_others_in_arrival_order():
    turns, order, hold = Turns(), [], asyncio.Event()
    holder = asyncio.create_task(_take(turns, "holder", order, hold))
    await _settle()
    tasks = [
        asyncio.create_task(_take(turns, name, order, hold, urgent=name.startswith("save")))
        for name in ("join-1", "save-1", "join-2", "save-2")
    ]
    await _settle()

    assert order == ["holder"]  # everyone else waits for the holder
    hold.set()
    await asyncio.gather(holder, *tasks)

    assert order == ["holder", "save-1", "save-2", "join-1", "join-2"]
    assert not turns.held


async def test_turns__a_cancelled_waiter_loses_nothing_for_the_others():
    turns, order, hold = Turns(), [], asyncio.Event()
    holder = asyncio.create_task(_take(turns, "holder", order, hold))
    await _settle()
    gone = asyncio.create_task(_take(turns, "gone", order, hold, urgent=True))
    after = asyncio.create_task(_take(turns, "after", order, hold))
    await _settle()
    gone.cancel()
    await _settle()
    hold.set()
    await asyncio.gather(holder, after)

    with pytest.raises(asyncio.CancelledError):
        await gone
    assert order == ["holder", "after"]
    assert not turns.held


async def test_turns__a_waiter_cancelled_as_it_is_handed_the_turn_passes_it_on():
    turns, order, hold = Turns(), [], asyncio.Event()
    hold.set()
    mine = turns.turn()
    await mine.__aenter__()
    handed = asyncio.create_task(_take(turns, "handed", order, hold))
    nxt = asyncio.create_task(_take(turns, "next", order, hold))
    await _settle()
    await mine.__aexit__(None, None, None)  # hands the turn to "handed", not yet running...
    handed.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(nxt, 5)  # the turn was not lost with the cancelled waiter

    with pytest.raises(asyncio.CancelledError):
        await handed
    assert order == ["next"]
    assert not turns.held


async def test_write__a_group_commit_waits_only_for_the_writer_holding_the_turn(svc):
    if not svc.db.is_sqlite:
        pytest.skip("PostgreSQL writers do not take turns")
    order, holding, release = [], asyncio.Event(), asyncio.Event()

    async def ordinary(name: str) -> None:
        async with svc.db.write():
            order.append(name)
            if name == "holder":
                holding.set()
                await release.wait()

    async def group_commit() -> None:
        async with svc.db.turn(urgent=True):
            order.append("autosave")

    holder = asyncio.create_task(ordinary("holder"))
    await holding.wait()
    waiting = [asyncio.create_task(ordinary(f"join-{i}")) for i in range(3)]
    await _settle()
    commit = asyncio.create_task(group_commit())
    await _settle()
    release.set()
    await asyncio.gather(holder, commit, *waiting)

    assert order == ["holder", "autosave", "join-0", "join-1", "join-2"]
