"""资格信息 and submitted forms keep the person's ID number encrypted like the account does:
the stored columns hold no digit of it, look-ups by whole number still find the record,
and the forms read it back."""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3

from sqlalchemy import text

from app import migrate
from app.cli import rotate_key
from app.lib import crypto
from app.registration import qualifications
from app.registration.models import Submission


async def test_qualification_id_numbers__are_sealed_and_still_found(svc, reg):
    person = await reg.factory.user(name="李资格")
    record = await reg.qualification(person, link=False)

    async with svc.db.read() as db:
        stored = (
            await db.execute(
                text("SELECT id_number_enc, id_number_index FROM reg_qualifications WHERE id = :i"),
                {"i": record.id},
            )
        ).one()
        found = await qualifications.search(session=db, query=person.id_number.lower())
        by_name = await qualifications.search(session=db, query=person.id_number[:6])

    assert person.id_number not in stored.id_number_enc
    assert person.id_number[-8:] not in stored.id_number_enc + stored.id_number_index
    assert [r.id for r in found.items] == [record.id]
    assert found.items[0].id_number == person.id_number  # read back in clear for the reviewer
    assert by_name.items == []  # part of a number finds nothing: it is not stored in clear


async def test_rotate_key__reseals_qualifications_too(svc, reg):
    person = await reg.factory.user(name="王轮换")
    record = await reg.qualification(person, link=False)
    kid, count = await asyncio.to_thread(rotate_key, svc.config)
    assert count == 2  # the account's number and the qualification's
    assert list(crypto.load(svc.config).data) == [kid]  # the old key is gone

    async with svc.db.read() as db:
        sealed = await db.scalar(
            text("SELECT id_number_enc FROM reg_qualifications WHERE id = :i"), {"i": record.id}
        )
        found = await qualifications.search(session=db, query=person.id_number)
    assert sealed.startswith(f"{kid}:")
    assert found.items[0].id_number == person.id_number


def test_migration_0014__moves_each_stored_number_out_of_the_form_json(tmp_path, monkeypatch):
    keys = crypto.Keys(secrets.token_bytes(32), [("kmig", secrets.token_bytes(32))], None)
    monkeypatch.setenv("SAFECE_DATA_KEY", keys.text().replace("\n", ";"))
    path = tmp_path / "migrated.db"
    url = f"sqlite+aiosqlite:///{path}"
    number = "120101199003070099"
    migrate.upgrade(url, "0013")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO reg_submissions (id, application_id, seq, form, digest, submitted_at) "
            "VALUES (1, 1, 1, ?, 'd', '2026-03-02 01:00:00')",
            (json.dumps({"id_number": number, "name": "张安全"}, ensure_ascii=False),),
        )
    migrate.upgrade(url)
    with sqlite3.connect(path) as conn:
        form, sealed = conn.execute("SELECT form, id_number_enc FROM reg_submissions").fetchone()
    assert json.loads(form) == {"name": "张安全"}
    assert number not in form + sealed and number[-8:] not in sealed
    assert sealed.startswith("kmig:") and crypto.reveal(sealed, keys) == number


async def test_submitted_forms__keep_the_id_number_sealed_and_read_it_back(svc, reg, world):
    authority, _, _, user = world
    await reg.start(user)
    await reg.fill(user, authority)
    sub = await reg.submit(user)
    async with svc.db.read() as db:
        form, sealed = (
            await db.execute(
                text("SELECT form, id_number_enc FROM reg_submissions WHERE id = :i"),
                {"i": sub.id},
            )
        ).one()
        stored = await db.get(Submission, sub.id)
        kept = json.loads(stored.form)
    assert user.id_number not in form and user.id_number[-8:] not in form + sealed
    assert kept["id_number"] == user.id_number and kept["name"] == user.name
    kid, count = await asyncio.to_thread(rotate_key, svc.config)
    assert count == 5  # three accounts (the applicant, two reviewers), the record, the form
    async with svc.db.read() as db:
        resealed = await db.scalar(
            text("SELECT id_number_enc FROM reg_submissions WHERE id = :i"), {"i": sub.id}
        )
        again = json.loads((await db.get(Submission, sub.id)).form)
    assert resealed.startswith(f"{kid}:") and again["id_number"] == user.id_number
