import asyncio

import pytest

from app.errors import AppError
from app.exams import answers, attempts
from app.exams.autosave import AnswerWriter
from tests.exams.conftest import paper_of


@pytest.fixture
async def writer(svc):
    """A writer of the test's own; closed after it (on PostgreSQL it keeps a connection)."""
    writer = AnswerWriter(svc.db, svc.now)
    yield writer
    await writer.close()


async def _ready(exams, count=1):
    batch = await exams.batch()
    started = []
    for _ in range(count):
        user = await exams.eligible(batch)
        attempt = await exams.start(user, batch)
        await exams.join(attempt)
        started.append(attempt)
    return started


async def test_writer__groups_concurrent_saves_into_few_transactions(svc, exams, writer):
    started = await _ready(exams, count=3)
    saves = [
        answers.Save(a.id, a.user_id, "tab-aaaaaaaa", item.question_id, "", n)
        for a in started
        for n, item in enumerate(paper_of(a), 1)
    ]
    await asyncio.gather(*(writer.save(s) for s in saves))
    assert writer.saved == len(saves) == 24
    assert writer.batches < len(saves) / 4
    for a in started:
        async with svc.db.read() as db:
            assert len(await attempts.answers_of(session=db, attempt_id=a.id)) == 8


async def test_writer__one_bad_save_does_not_sink_the_others(svc, exams, writer):
    [attempt] = await _ready(exams)
    good = [
        answers.Save(attempt.id, attempt.user_id, "tab-aaaaaaaa", item.question_id, "", n)
        for n, item in enumerate(paper_of(attempt), 1)
    ]
    # A question that does not exist breaks the foreign key of the whole batch.
    bad = answers.Save(attempt.id, attempt.user_id, "tab-aaaaaaaa", 987654, "A", 99)
    outcomes = await asyncio.gather(*(writer.save(s) for s in [*good, bad]), return_exceptions=True)
    assert outcomes[:-1] == [None] * len(good)
    assert isinstance(outcomes[-1], AppError) and outcomes[-1].code == "busy"
    async with svc.db.read() as db:
        assert len(await attempts.answers_of(session=db, attempt_id=attempt.id)) == 8


async def test_writer__refusals_reach_the_right_caller(svc, exams, writer):
    [attempt] = await _ready(exams)
    qid = paper_of(attempt)[0].question_id
    mine = answers.Save(attempt.id, attempt.user_id, "tab-aaaaaaaa", qid, "A", 1)
    stranger = answers.Save(attempt.id, attempt.user_id + 1000, "tab-aaaaaaaa", qid, "B", 2)
    outcomes = await asyncio.gather(
        writer.save(mine), writer.save(stranger), return_exceptions=True
    )
    assert outcomes[0] is None and outcomes[1].code == "not_found"


async def test_writer__barrier_waits_for_earlier_saves(svc, exams, writer):
    [attempt] = await _ready(exams)
    qid = paper_of(attempt)[0].question_id
    pending = asyncio.ensure_future(
        writer.save(answers.Save(attempt.id, attempt.user_id, "tab-aaaaaaaa", qid, "A", 1))
    )
    await asyncio.sleep(0)
    await writer.barrier()
    assert pending.done()


async def test_writer__waits_for_another_process_holding_the_write_lock(svc, exams, writer):
    if not svc.db.is_sqlite:
        pytest.skip("SQLite's file lock only: PostgreSQL locks rows (test_service covers it)")
    import sqlite3

    from sqlalchemy.engine import make_url

    [attempt] = await _ready(exams)
    other = sqlite3.connect(make_url(svc.config.database_url).database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # as another server process in mid-transaction
    qid = paper_of(attempt)[0].question_id
    pending = asyncio.ensure_future(
        writer.save(answers.Save(attempt.id, attempt.user_id, "tab-aaaaaaaa", qid, "C", 1))
    )
    await asyncio.sleep(0.2)
    assert not pending.done()  # waiting in a thread, not blocking the event loop
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(pending, 10)
    async with svc.db.read() as db:
        assert await attempts.answers_of(session=db, attempt_id=attempt.id) == {qid: ("C", 1)}


async def test_writer__a_database_locked_by_another_process_answers_busy_then_saves(
    svc, exams, writer
):
    import sqlite3

    from app.exams import autosave

    if not svc.db.is_sqlite:
        pytest.skip("locks the SQLite file")
    [attempt] = await _ready(exams)
    items = paper_of(attempt)
    saves = [
        answers.Save(attempt.id, attempt.user_id, "tab-aaaaaaaa", item.question_id, "", n)
        for n, item in enumerate(items, 1)
    ]
    # Another process holds the write lock (as a backup or a stuck writer would).
    holder = sqlite3.connect(svc.db.engine.url.database, isolation_level=None, timeout=10)
    holder.execute("BEGIN EXCLUSIVE")
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        outcomes = await asyncio.gather(*(writer.save(s) for s in saves), return_exceptions=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # Every save is told to try again, soon (not after a 30 s wait), and none was stored.
    assert all(isinstance(o, AppError) and o.code == "busy" for o in outcomes)
    assert loop.time() - began < autosave.LOCK_WAIT_SECONDS * 3
    async with svc.db.read() as db:
        assert await attempts.answers_of(session=db, attempt_id=attempt.id) == {}
    # The page sends them again once the lock is gone: all stored.
    await asyncio.gather(*(writer.save(s) for s in saves))
    async with svc.db.read() as db:
        assert len(await attempts.answers_of(session=db, attempt_id=attempt.id)) == len(items)


async def test_writer__postgresql_keeps_one_connection_and_survives_losing_it(svc, exams, writer):
    if svc.db.is_sqlite:
        pytest.skip("PostgreSQL's batches run on a connection the writer keeps")
    from sqlalchemy import text

    [attempt] = await _ready(exams)
    items = paper_of(attempt)

    def save(n: int) -> answers.Save:
        item = items[n % len(items)]
        return answers.Save(attempt.id, attempt.user_id, "tab-aaaaaaaa", item.question_id, "", n)

    pool = svc.db.engine.pool
    before = pool.checkedout()
    await writer.save(save(1))
    await writer.save(save(2))
    assert pool.checkedout() == before + 1  # kept between batches, not checked out each time
    kept = writer._store._held
    pid = (await kept.get_raw_connection()).driver_connection.get_server_pid()
    # The server ends that connection (a restart, an administrator): the batch on it answers
    # busy, as when the database is down, and the next one opens another and saves.
    async with svc.db.write() as db:
        await db.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(AppError) as refused:
        await writer.save(save(3))
    assert refused.value.code == "busy"
    await writer.save(save(4))
    assert writer._store._held is not kept
    await writer.close()
    assert pool.checkedout() == before
    async with svc.db.read() as db:
        stored = await attempts.answers_of(session=db, attempt_id=attempt.id)
    assert {qid: seq for qid, (_, seq) in stored.items()} == {
        items[n].question_id: n for n in (1, 2, 4)
    }
