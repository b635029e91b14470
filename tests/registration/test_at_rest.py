"""资格信息 keep the person's ID number encrypted like the account does: the stored column
holds no digit of it, and the look-ups by whole number still find the record."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.cli import rotate_key
from app.lib import crypto
from app.registration import qualifications


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
