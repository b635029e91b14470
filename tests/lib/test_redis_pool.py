"""The process's Redis pool lets commands take their connections at once."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from app.lib import redis_pool


async def _connections_opened(client, commands: int, path, wait: float) -> int:
    """How many connections ``commands`` commands sent together open to a server that
    accepts and never answers (each command's connection check waits forever)."""
    opened = 0

    async def silent(reader, writer) -> None:
        nonlocal opened
        opened += 1
        await reader.read()

    server = await asyncio.start_unix_server(silent, path=str(path))
    sending = [asyncio.create_task(client.ping()) for _ in range(commands)]
    for _ in range(int(wait / 0.01)):
        if opened >= commands:
            break
        await asyncio.sleep(0.01)
    for task in sending:
        task.cancel()
    await asyncio.gather(*sending, return_exceptions=True)
    await client.aclose()
    server.close()
    return opened


async def test_pool__a_command_does_not_wait_for_another_ones_connection(tmp_path):
    ours = await _connections_opened(
        redis_pool.connect(f"unix://{tmp_path / 'a.sock'}"), 3, tmp_path / "a.sock", wait=10
    )
    # redis-py's own pool checks one connection at a time, under a pool-wide lock.
    theirs = await _connections_opened(
        aioredis.Redis.from_url(f"unix://{tmp_path / 'b.sock'}"), 3, tmp_path / "b.sock", wait=0.3
    )

    assert (ours, theirs) == (3, 1)


async def test_pool__a_dead_connection_is_replaced_and_the_command_answered(redis_server):
    client = redis_pool.connect(redis_server, decode_responses=True)
    killer = aioredis.Redis.from_url(redis_server)
    try:
        await client.set("pool:test", "1")
        victim = await client.client_id()
        await killer.client_kill_filter(_id=victim)
        # Redis may close a killed client after answering CLIENT KILL (its async free
        # queue): the connection is dead once the server no longer lists it.
        async with asyncio.timeout(5):
            while f"id={victim} " in (await killer.execute_command("CLIENT", "LIST")).decode():
                await asyncio.sleep(0.01)
        assert await client.get("pool:test") == "1"
    finally:
        await client.aclose()
        await killer.aclose()
