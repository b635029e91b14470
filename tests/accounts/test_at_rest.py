"""ID numbers are encrypted at rest: no learner's ID number is found in the database
file, its WAL, a Redis dump or the logs; look-ups, logins and the key rotation work."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from app.accounts import service
from app.cli import rotate_key
from app.lib import crypto
from tests.factories import Factory, csrf_of, login, new_id_number

PASSWORD = "Str0ng-Pass!"


async def _redis_dump(redis) -> bytes:
    """What Redis would write to disk now (BGSAVE, whatever its save settings)."""
    before = (await redis.info("persistence"))["rdb_last_bgsave_time_sec"], await redis.lastsave()
    await redis.bgsave()
    for _ in range(200):
        info = await redis.info("persistence")
        if not info["rdb_bgsave_in_progress"] and await redis.lastsave() != before[1]:
            break
        await asyncio.sleep(0.05)
    folder = (await redis.config_get("dir"))["dir"]
    name = (await redis.config_get("dbfilename"))["dbfilename"]
    return (Path(folder) / name).read_bytes()


@pytest.fixture
def sqlite_only(svc):
    if not svc.db.is_sqlite:
        pytest.skip("reads the SQLite file")


async def test_id_numbers__appear_nowhere_at_rest(client, svc, sqlite_only, caplog):
    caplog.set_level(logging.DEBUG)
    factory = Factory(svc)
    learners = [await factory.user() for _ in range(4)]
    learners.append(await factory.user(password=None))  # still on the initial password
    admin = await factory.user(roles=("admin",))
    numbers = [u.id_number for u in [*learners, admin]]
    # What leaves traces: failed and good logins (throttle counters in Redis), an admin's
    # search by ID number, the pages that show it.
    await login(client, svc, learners[0].id_number, "Wrong-Pass-1")
    await login(client, svc, learners[0].id_number, PASSWORD)
    await client.get("/profile")
    await client.post("/logout", form={"csrf_token": await csrf_of(client)})
    await login(client, svc, new_id_number(), "Wrong-Pass-1")  # an unknown number typed
    await login(client, svc, admin.id_number, PASSWORD)
    found = await client.get(f"/admin/learners?q={learners[1].id_number}")
    assert learners[1].id_number in await found.get_data(as_text=True)  # admins see it whole

    path = Path(svc.db.engine.url.database)
    places = {"database": path.read_bytes()}
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        places["wal"] = wal.read_bytes()
    places["redis dump"] = await _redis_dump(svc.redis)
    places["redis keys"] = " ".join([k async for k in svc.redis.scan_iter()]).encode()
    places["logs"] = caplog.text.encode()
    for place, content in places.items():
        for number in numbers:
            assert number.encode() not in content, f"{number} found in the {place}"
    assert b"loginfail:acct:" in places["redis keys"]  # counted, under the blind index


async def test_id_numbers__are_sealed_and_found_by_their_index(svc, factory):
    user = await factory.user()
    async with svc.db.read() as db:
        raw = (
            await db.execute(
                text("SELECT id_number_enc, id_number_index FROM users WHERE id = :u"),
                {"u": user.id},
            )
        ).one()
        assert raw[0].startswith(crypto.keys().current + ":") and user.id_number not in raw[0]
        assert raw[1] == crypto.blind_index(user.id_number)
        assert (await service.get_by_id_number(session=db, id_number=user.id_number)).id == user.id
        lower = user.id_number.lower()
        assert (await service.get_by_id_number(session=db, id_number=f" {lower} ")).id == user.id


async def test_rotate_key__reseals_every_number_and_logins_go_on(client, svc, factory):
    users = [await factory.user() for _ in range(3)]
    before_kid = crypto.keys().current
    async with svc.db.read() as db:
        sealed_before = dict((await db.execute(text("SELECT id, id_number_enc FROM users"))).all())
    kid, count = await asyncio.to_thread(rotate_key, svc.config)
    assert count == 3 and kid != before_kid
    keys = crypto.load(svc.config)
    assert list(keys.data) == [kid]  # the old key is gone from the key file
    async with svc.db.read() as db:
        sealed_after = dict((await db.execute(text("SELECT id, id_number_enc FROM users"))).all())
        for user in users:
            assert sealed_after[user.id].startswith(f"{kid}:")
            assert sealed_after[user.id] != sealed_before[user.id]
            again = await service.get_by_id_number(session=db, id_number=user.id_number)
            assert again.id == user.id and again.id_number == user.id_number
    response = await login(client, svc, users[0].id_number, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/profile"


def test_key_file__is_made_once_readable_by_its_owner_only(config):
    first = crypto.load(config)
    assert config.key_file.stat().st_mode & 0o777 == 0o600
    assert crypto.load(config).current == first.current  # not made again
    other = crypto.Keys.parse(f"index {'A' * 43}=; k1 {'B' * 43}=")
    assert other.current == "k1" and crypto.reveal(crypto.seal("x", other), other) == "x"
