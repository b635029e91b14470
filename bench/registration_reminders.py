"""Registration reminders at scale: the job that posts the dated notices (the renewal window
opening, 90 and 30 days before expiry, expiry) now runs every minute instead of once a
day, and each applicant page checks its own. What does that cost with N registrations?
(Each registration keeps the day its next notice falls due, indexed: a minute in which no
day has come reads nothing else.)

    .venv/bin/python bench/registration_reminders.py --registrations 100000

A private stack (SQLite, redis-server) in a temp dir, no web server: N registered
engineers written straight into the tables, their expiries spread evenly from two months
ago to three years ahead (the seed rules: 3-year validity, renewal in the last 3 months).
Then the job function itself (``send_registration_reminders``) runs as the worker runs it:

- first: the first run after the migration, which looks at every registration in force and
  posts what is due today (and sets each one's next day);
- steady: a run a minute later, when nothing new is due (what runs 1,440 times a day);
- next_day: a run the next morning, which posts that day's crossings;
- page_check: one applicant page's own check (``reminders.due_for``), over 300 people.

The last line is

    RESULT registrations=N posted_first=.. first_s=.. steady_ms=.. next_day_posted=.. next_day_ms=.. page_check_p95_ms=..

steady_ms and page_check_p95_ms are the median of 5 runs and the 95th percentile of 300
checks; SQLite, one process, on whatever load the machine has (printed).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from app.accounts.models import User  # noqa: E402
from app.clock import FrozenClock  # noqa: E402
from app.config import Config  # noqa: E402
from app.learning.models import Batch  # noqa: E402
from app.registration import reminders  # noqa: E402
from app.registration.models import Authority, Registration  # noqa: E402
from app.services import build_services  # noqa: E402
from bench.common import create_learners, machine_load, percentile, start_stack  # noqa: E402
from workers.registration import send_registration_reminders  # noqa: E402

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


async def build(svc, *, count: int, seed: int = 7) -> list[int]:
    """N engineers, each with one registration; returns their user ids."""
    rng = random.Random(seed)
    async with svc.db.write() as db:
        batch = Batch(
            name="压测批次",
            required_minutes=640,
            required_public_minutes=320,
            min_study_days=1,
            study_deadline=NOW,
            exam_opens_at=NOW,
            exam_closes_at=NOW,
            created_at=NOW,
        )
        authority = Authority(name="压测注册机构", channel="province", created_at=NOW)
        db.add_all([batch, authority])
        await db.flush()
        numbers = await create_learners(db, count=count, batch_id=batch.id, now=NOW)
        ids = list(await db.scalars(select(User.id).where(User.id_number.in_(numbers))))
        today = NOW.date()
        rows = []
        for index, user_id in enumerate(ids):
            until = today + dt.timedelta(days=rng.randint(-60, 3 * 365))
            rows.append(
                dict(
                    number=f"2026{index:010d}",
                    user_id=user_id,
                    holder_name=f"压测学员{index}",
                    authority_id=authority.id,
                    category="化工安全",
                    employer_name="压测单位",
                    employer_uscc="91110000600037341L",
                    valid_from=until - dt.timedelta(days=3 * 365 - 1),
                    valid_until=until,
                    rule_set_id=1,
                    # As migration 0013 leaves them: looked at by the next run.
                    next_notice_on=today if until >= today - dt.timedelta(days=30) else None,
                    issued_at=NOW - dt.timedelta(days=3 * 365 - (until - today).days),
                    updated_at=NOW,
                )
            )
        for start in range(0, len(rows), 2000):
            await db.execute(insert(Registration), rows[start : start + 2000])
    return ids


async def run(stack, count: int) -> None:
    clock = FrozenClock(NOW)
    config = Config(
        data_dir=stack.workdir,
        database_url=stack.database_url,
        redis_url=stack.redis_url,
        clock=clock,
    )
    svc = build_services(config)
    ctx = {"svc": svc}
    ids = await build(svc, count=count)
    print(f"built {count} registrations; load {machine_load()}", flush=True)

    started = time.perf_counter()
    posted_first = await send_registration_reminders(ctx)
    first_s = time.perf_counter() - started

    steady = []
    for _ in range(5):
        clock.set(clock.now() + dt.timedelta(minutes=1))
        started = time.perf_counter()
        assert await send_registration_reminders(ctx) == 0
        steady.append((time.perf_counter() - started) * 1000)

    clock.set(NOW + dt.timedelta(days=1))
    started = time.perf_counter()
    next_day_posted = await send_registration_reminders(ctx)
    next_day_ms = (time.perf_counter() - started) * 1000

    checks = []
    for user_id in random.Random(3).sample(ids, min(300, len(ids))):
        started = time.perf_counter()
        async with svc.db.read() as db:
            await reminders.due_for(session=db, user_id=user_id, now=svc.now())
        checks.append((time.perf_counter() - started) * 1000)
    await svc.db.dispose()
    await svc.redis.aclose()
    print(
        f"RESULT registrations={count} posted_first={posted_first} first_s={first_s:.2f} "
        f"steady_ms={sorted(steady)[2]:.0f} next_day_posted={next_day_posted} "
        f"next_day_ms={next_day_ms:.0f} page_check_p95_ms={percentile(checks, 95):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=100_000)
    args = parser.parse_args()
    stack = start_stack()  # migrates with asyncio.run: outside the bench's event loop
    try:
        asyncio.run(run(stack, args.registrations))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
