"""The process's Redis pool lets commands take their connections at once."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from app.lib import redis_pool

CALLS = 50


async def _loop_turns_for(client, calls: int) -> int:
    """How many turns of the event loop ``calls`` PINGs sent together take to answer."""
    turns = 0
    done = asyncio.Event()

    async def count() -> None:
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    counting = asyncio.create_task(count())
    await asyncio.gather(*(client.ping() for _ in range(calls)))
    done.set()
    await counting
    return turns


async def test_pool__commands_sent_together_take_their_connections_at_once(redis_server):
    client = redis_pool.connect(redis_server)
    stock = aioredis.Redis.from_url(redis_server)
    try:
        for c in (client, stock):
            await asyncio.gather(*(c.ping() for _ in range(CALLS)))  # the connections exist
        ours = await _loop_turns_for(client, CALLS)
        theirs = await _loop_turns_for(stock, CALLS)
    finally:
        await client.aclose()
        await stock.aclose()

    print(f"loop turns for {CALLS} PINGs: ours {ours}, redis-py's pool {theirs}")
    # redis-py's own pool checks one connection per loop turn, under its lock.
    assert theirs >= CALLS
    assert ours < CALLS / 5


async def test_pool__a_dead_connection_is_replaced_and_the_command_answered(redis_server):
    client = redis_pool.connect(redis_server, decode_responses=True)
    killer = aioredis.Redis.from_url(redis_server)
    try:
        await client.set("pool:test", "1")
        await killer.client_kill_filter(_id=await client.client_id())
        assert await client.get("pool:test") == "1"
    finally:
        await client.aclose()
        await killer.aclose()
