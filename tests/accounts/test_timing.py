"""A failed login takes as long whether the ID is unknown, the account has a real password
or it is still on its initial one: timing must not tell who has never logged in."""

from __future__ import annotations

import json
import statistics
import time

import pytest

from app.accounts import captcha, service, throttle
from app.accounts.models import index_of
from tests.factories import Factory, new_id_number

TRIALS = 15


@pytest.fixture
async def config(config):
    # A realistic argon2 cost, so that skipping it would show (tests otherwise use a cheap one).
    config.argon2_time_cost = 2
    config.argon2_memory_kib = 16 * 1024
    return config


async def _failed_login(svc, username: str, trial: int) -> float:
    """CPU seconds one wrong-password login takes in the service, captcha and throttle
    passed: the work done, argon2's threads included. (Wall time measured the machine: on a
    loaded 2-core machine one path's median came out at 0.56 of another's.)"""
    now = svc.now()
    issued = await captcha.issue(svc.redis, now=now.timestamp(), ttl=300)
    answer = await svc.redis.get(captcha.key(issued["id"]))
    await throttle.reset(svc.redis, index_of(username))
    began = time.process_time()
    with pytest.raises(Exception) as refused:
        async with svc.db.write() as db:
            await service.login(
                session=db,
                redis=svc.redis,
                config=svc.config,
                now=now,
                username=username,
                password="Wrong-Guess-123",
                captcha_id=issued["id"],
                captcha_answer=json.loads(answer)["answer"],
                ip=f"10.0.{trial}.1",
            )
    took = time.process_time() - began
    assert getattr(refused.value, "code", None) == "bad_credentials"
    return took


async def test_login__unknown_real_and_initial_password_accounts_take_as_long(svc):
    factory = Factory(svc)
    cases = {
        "unknown": new_id_number(),
        "real_password": (await factory.user()).id_number,
        "initial_password": (await factory.user(password=None)).id_number,
    }
    await _failed_login(svc, cases["unknown"], 0)  # warm up (the dummy hash is made once)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for trial in range(1, TRIALS + 1):
        for name, username in cases.items():  # interleaved: machine load hits all alike
            times[name].append(await _failed_login(svc, username, trial))
    medians = {name: statistics.median(values) for name, values in times.items()}
    slowest, fastest = max(medians.values()), min(medians.values())
    assert fastest >= 0.6 * slowest, medians
