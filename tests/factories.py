"""Factories for test data and helpers that act as a person would (log in, fill forms)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re

from sqlalchemy import func, select

from app.accounts import idcard, service
from app.accounts.models import User
from app.exams.models import Attempt
from app.exams.statuses import AttemptStatus, EndedBy
from app.learning.models import Batch, Course, CourseKind, Enrolment, Video
from app.services import Services
from devtools.demo.photo import id_photo  # noqa: F401 - tests take the demo photo from here

_serial = itertools.count(1)


def new_id_number(birth: str = "19900307") -> str:
    """A fresh valid ID number (Tianjin Heping district) with a unique sequence."""
    return idcard.make(f"120101{birth}{next(_serial) % 1000:03d}")


# A course spec: (name, kind, required, [video seconds], deadline or None).
CourseSpec = tuple[str, str, bool, list[int], "dt.datetime | None"]


class Factory:
    """Builds test data: people through the real account service, batches, courses and
    attempts as rows (each area's own tests cover how those are made through its UI)."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    async def batch(
        self,
        name: str = "注册安全工程师继续教育 2026年第一期",
        *,
        required_minutes: int = 640,
        required_public_minutes: int = 320,
        min_study_days: int = 10,
        study_days: float = 180,
        exam_opens_in: float = 0,
        exam_days: float = 200,
        **fields,
    ) -> Batch:
        """A programme batch; times are days from now (``exam_opens_in`` may be negative)."""
        now = self.svc.now()
        opens = fields.pop("exam_opens_at", now + dt.timedelta(days=exam_opens_in))
        async with self.svc.db.write() as db:
            batch = Batch(
                name=name,
                required_minutes=required_minutes,
                required_public_minutes=required_public_minutes,
                min_study_days=min_study_days,
                study_deadline=fields.pop("study_deadline", now + dt.timedelta(days=study_days)),
                exam_opens_at=opens,
                exam_closes_at=fields.pop("exam_closes_at", opens + dt.timedelta(days=exam_days)),
                created_at=now,
                **fields,
            )
            db.add(batch)
        return batch

    async def courses(
        self, batch: Batch, specs: list[CourseSpec], *, file: str = "test/none.mp4"
    ) -> tuple[list[Course], dict[int, list[Video]]]:
        """Courses of a batch in order, each with videos of the given lengths in seconds."""
        now = self.svc.now()
        made: list[Course] = []
        videos: dict[int, list[Video]] = {}
        async with self.svc.db.write() as db:
            for position, (name, kind, required, seconds, deadline) in enumerate(specs, 1):
                course = Course(
                    batch_id=batch.id,
                    name=name,
                    lecturer="讲师",
                    kind=CourseKind(kind),
                    required=required,
                    deadline=deadline,
                    position=position,
                    created_at=now,
                )
                db.add(course)
                await db.flush()
                videos[course.id] = []
                for order, length in enumerate(seconds, 1):
                    video = Video(
                        course_id=course.id,
                        title=f"{name} 第{order}讲",
                        position=order,
                        duration_ms=length * 1000,
                        file=file,
                        mimetype="video/mp4",
                        created_at=now,
                    )
                    db.add(video)
                    await db.flush()
                    videos[course.id].append(video)
                made.append(course)
        return made, videos

    async def enrol(self, user_id: int, batch_id: int) -> None:
        """Enrol a learner in a batch (once)."""
        async with self.svc.db.write() as db:
            enrolled = await db.scalar(
                select(Enrolment.id).where(
                    Enrolment.user_id == user_id, Enrolment.batch_id == batch_id
                )
            )
            if enrolled is None:
                db.add(Enrolment(user_id=user_id, batch_id=batch_id, enrolled_at=self.svc.now()))

    async def closed_attempt(
        self, user: User, batch: Batch, *, passed: bool = True, score: float = 86.5
    ) -> Attempt:
        """A graded, closed attempt of an enrolled learner, written as a row."""
        await self.enrol(user.id, batch.id)
        now = self.svc.now()
        async with self.svc.db.write() as db:
            used = await db.scalar(
                select(func.count()).where(Attempt.user_id == user.id, Attempt.batch_id == batch.id)
            )
            attempt = Attempt(
                user_id=user.id,
                batch_id=batch.id,
                number=used + 1,
                seed=12345,
                rules=json.dumps({}),
                paper=json.dumps([]),
                status=AttemptStatus.CLOSED,
                started_at=now - dt.timedelta(minutes=50),
                deadline=now + dt.timedelta(minutes=70),
                ended_at=now,
                ended_by=EndedBy.SUBMITTED,
                score=score,
                passed=passed,
                graded_answers=json.dumps({}),
            )
            db.add(attempt)
        return attempt

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


async def post_login(base_url: str, redis, id_number: str, password: str) -> tuple[int, str | None]:
    """Fill in and send the login form over real HTTP: (status, the session cookie value)."""
    import aiohttp

    jar = aiohttp.CookieJar(unsafe=True)  # cookies of an IP address
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
            status = response.status
        return status, next((c.value for c in jar if c.key == "safece_session"), None)


async def http_login(base_url: str, redis, id_number: str, password: str) -> str:
    """Log in over real HTTP (for Socket.IO tests) and return the session cookie value."""
    status, cookie = await post_login(base_url, redis, id_number, password)
    assert status == 302 and cookie, status
    return cookie
