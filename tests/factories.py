"""Factories for test data and helpers that act as a person would (log in, fill forms)."""

from __future__ import annotations

import itertools
import json
import re

from app.accounts import idcard, service
from app.services import Services

_serial = itertools.count(1)


def new_id_number(birth: str = "19900307") -> str:
    """A fresh valid ID number (Tianjin Heping district) with a unique sequence."""
    return idcard.make(f"120101{birth}{next(_serial) % 1000:03d}")


class Factory:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    async def user(self, *, roles=("learner",), password: str | None = "Str0ng-Pass!", **fields):
        """A user; password=None gives the initial password (last six of the ID)."""
        fields.setdefault("id_number", new_id_number())
        fields.setdefault("name", "测试学员")
        fields.setdefault("work_unit", "测试单位")
        async with self.svc.db.write() as db:
            return await service.create(
                session=db,
                config=self.svc.config,
                now=self.svc.now(),
                roles=tuple(roles),
                password=password,
                **fields,
            )


CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')
CAPTCHA_ID = re.compile(r'name="captcha_id" id="captcha-id" value="([^"]+)"')


async def captcha_answer(redis, captcha_id: str) -> str:
    """Read the captcha answer from Redis, as the browser tests do."""
    return json.loads(await redis.get(f"captcha:{captcha_id}"))["answer"]


async def login_form(client, svc: Services) -> dict[str, str]:
    """GET /login and return the hidden fields plus the right captcha answer."""
    page = await (await client.get("/login")).get_data(as_text=True)
    captcha_id = CAPTCHA_ID.search(page).group(1)
    return {
        "csrf_token": CSRF.search(page).group(1),
        "captcha_id": captcha_id,
        "captcha": await captcha_answer(svc.redis, captcha_id),
    }


async def login(client, svc: Services, id_number: str, password: str, **overrides):
    """Submit the login form as a person would; returns the response."""
    form = await login_form(client, svc)
    form.update(username=id_number, password=password)
    form.update(overrides)
    return await client.post("/login", form=form)


async def csrf_of(client) -> str:
    """The CSRF token of the current session, read from any page."""
    page = await (await client.get("/password")).get_data(as_text=True)
    return CSRF.search(page).group(1)


def session_cookie(client) -> str | None:
    """The session token the test client holds."""
    return next((c.value for c in client.cookie_jar if c.name == "safece_session"), None)


async def http_login(base_url: str, redis, id_number: str, password: str) -> str:
    """Log in over real HTTP (for Socket.IO tests) and return the session cookie value."""
    import aiohttp

    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=base_url, cookie_jar=jar) as http:
        async with http.get("/login") as response:
            page = await response.text()
        captcha_id = CAPTCHA_ID.search(page).group(1)
        form = {
            "csrf_token": CSRF.search(page).group(1),
            "captcha_id": captcha_id,
            "captcha": await captcha_answer(redis, captcha_id),
            "username": id_number,
            "password": password,
        }
        async with http.post("/login", data=form, allow_redirects=False) as response:
            assert response.status == 302, await response.text()
        return next(c.value for c in jar if c.key == "safece_session")
