"""Write-behind of credited segments: the Redis stream ``study:credits`` into the database.

Every server process runs one ``CreditFlusher``. It reads the stream as a member of the
consumer group ``writers`` (each entry goes to one process), commits what it read in one
transaction through ``record_watched_many`` and only then acknowledges and deletes the
entries. A process that dies between reading and committing leaves its entries pending;
any live process reclaims entries pending longer than ``claim_idle_ms`` and writes them.
Writing an entry twice is harmless: progress is a union of segments, so the second write
adds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import threading

from redis.exceptions import ResponseError

from app.db import Database
from app.errors import AppError
from app.learning import credit
from app.learning.study import CREDITS_STREAM
from app.lib import redis_pool

log = logging.getLogger("safece.learning")
GROUP = "writers"


async def ensure_group(redis) -> None:
    """Create the stream and its consumer group if they do not exist."""
    try:
        await redis.xgroup_create(CREDITS_STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def _credit(fields: dict[str, str]) -> credit.Credit:
    return credit.Credit(
        user_id=int(fields["u"]),
        video_id=int(fields["v"]),
        start_s=int(fields["s"]) / 1000,
        end_s=int(fields["e"]) / 1000,
        at=dt.datetime.fromtimestamp(int(fields["at"]) / 1000, dt.UTC),
    )


async def _take(
    redis,
    consumer: str,
    count: int,
    block_ms: int | None,
    claim_idle_ms: int | None,
    own_pending: bool,
) -> list[tuple[str, dict[str, str]]]:
    """The next group of entries: those taken over from a dead consumer, then new ones."""
    entries: list[tuple[str, dict[str, str]]] = []
    if claim_idle_ms is not None:
        _, claimed, *_ = await redis.xautoclaim(
            CREDITS_STREAM, GROUP, consumer, min_idle_time=claim_idle_ms, count=count
        )
        entries.extend((i, f) for i, f in claimed if f)
    if len(entries) < count:
        read = await redis.xreadgroup(
            GROUP,
            consumer,
            {CREDITS_STREAM: "0" if own_pending else ">"},
            count=count - len(entries),
            block=None if own_pending else block_ms,
        )
        for _, items in read or []:
            entries.extend(items)
    return entries


async def flush_credits(
    *,
    redis,
    db: Database,
    consumer: str,
    count: int = 1000,
    block_ms: int | None = None,
    claim_idle_ms: int | None = None,
    own_pending: bool = False,
) -> int:
    """Write one group of stream entries to the database; returns how many.

    With `claim_idle_ms`, entries another consumer read that long ago and never
    acknowledged are taken over first (0 takes them all: tests use it); `own_pending`
    rereads this consumer's own unacknowledged entries instead of new ones."""
    try:
        entries = await _take(redis, consumer, count, block_ms, claim_idle_ms, own_pending)
    except ResponseError as error:
        # The group is made on first use (and again after Redis lost the stream), not
        # asked for on every round: XGROUP CREATE would answer BUSYGROUP twice a second.
        if "NOGROUP" not in str(error):
            raise
        await ensure_group(redis)
        entries = await _take(redis, consumer, count, block_ms, claim_idle_ms, own_pending)
    if not entries:
        return 0
    try:
        async with db.write() as session:
            await credit.record_watched_many(
                session=session, credits=[_credit(f) for _, f in entries]
            )
    except AppError:
        # A credit for a video deleted meanwhile: write the others one by one.
        for entry_id, fields in entries:
            try:
                async with db.write() as session:
                    await credit.record_watched_many(session=session, credits=[_credit(fields)])
            except AppError as error:
                log.warning("dropping study credit %s %s: %s", entry_id, fields, error.message)
    ids = [entry_id for entry_id, _ in entries]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xack(CREDITS_STREAM, GROUP, *ids)
        pipe.xdel(CREDITS_STREAM, *ids)
        await pipe.execute()
    return len(entries)


class CreditFlusher:
    """The per-process background writer. It runs in its own thread with its own event
    loop, Redis client and database engine: the ORM work of a large group then shares the
    interpreter in 5 ms slices instead of stalling the web event loop for its duration."""

    def __init__(
        self,
        *,
        redis_url: str,
        database_url: str,
        pgbouncer: bool = False,
        claim_idle_ms: int = 30_000,
        pause_s: float = 0.5,
    ):
        self.redis_url = redis_url
        self.database_url = database_url
        self.pgbouncer = pgbouncer
        self.claim_idle_ms = claim_idle_ms
        # After writing a group, let the next one gather for this long: one transaction of
        # hundreds of credits costs little more than one of a few.
        self.pause_s = pause_s
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task | None = None

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._main, args=(ready,), name="study-flusher", daemon=True
        )
        self._thread.start()
        ready.wait(10)

    def _main(self, ready: threading.Event) -> None:
        asyncio.run(self._run(ready))

    async def _run(self, ready: threading.Event) -> None:
        redis = redis_pool.connect(self.redis_url, decode_responses=True)
        db = Database(self.database_url, pgbouncer=self.pgbouncer)
        self._loop = asyncio.get_running_loop()
        self._worker = asyncio.create_task(self._work(redis, db))
        ready.set()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            # Write what this process still holds before it goes.
            for own_pending in (True, False):
                with contextlib.suppress(Exception):
                    await flush_credits(
                        redis=redis,
                        db=db,
                        consumer=self.consumer,
                        count=10_000,
                        own_pending=own_pending,
                    )
        finally:
            await redis.aclose()
            await db.dispose()

    async def _work(self, redis, db: Database) -> None:
        rounds = 0
        while True:
            try:
                # Now and then, take over what a dead process left unacknowledged.
                claim = self.claim_idle_ms if rounds % 30 == 0 else None
                rounds += 1
                written = await flush_credits(
                    redis=redis,
                    db=db,
                    consumer=self.consumer,
                    block_ms=500,
                    claim_idle_ms=claim,
                )
                if written:
                    await asyncio.sleep(self.pause_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("study credit flush failed; retrying in 1 s")
                await asyncio.sleep(1)

    async def stop(self) -> None:
        """Interrupt the wait for new credits, write what is left, and end the thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._worker is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                self._loop.call_soon_threadsafe(self._worker.cancel)
        await asyncio.to_thread(self._thread.join, 30)
        self._thread = None
