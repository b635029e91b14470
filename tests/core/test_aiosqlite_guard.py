"""app/lib/sqlite_writes.py overrides aiosqlite's private internals: an aiosqlite whose
internals differ must stop the app at once, not corrupt writes later."""

from app.lib import sqlite_writes


def test_sqlite_writes__installed_aiosqlite_has_the_internals_it_overrides():
    assert sqlite_writes.internals_problem() is None


async def test_sqlite_writes__its_connection_sets_what_it_reads(tmp_path):
    conn = await sqlite_writes.creator(str(tmp_path / "x.db"), busy_timeout_ms=100)()
    try:
        assert conn._connection is not None and conn._thread.is_alive()
        conn.write_inline(True)
        await conn.execute("CREATE TABLE t (x)")
        await conn.execute("INSERT INTO t VALUES (1)")
        await conn.commit()
        conn.write_inline(False)
        async with conn.execute("SELECT x FROM t") as cursor:
            assert await cursor.fetchall() == [(1,)]
    finally:
        await conn.close()


def test_sqlite_writes__another_aiosqlite_stops_the_engine_loudly(monkeypatch):
    import aiosqlite
    import pytest

    monkeypatch.setattr(aiosqlite, "__version__", "0.23.0")  # a third-party value, not ours
    assert "0.23.0" in sqlite_writes.internals_problem()
    with pytest.raises(RuntimeError, match="aiosqlite 0.23.0"):
        sqlite_writes.creator("x.db", busy_timeout_ms=100)
