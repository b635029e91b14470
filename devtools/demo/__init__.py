"""Demo data for `make run`: the demo batch and one account per role. Idempotent."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select

from app.accounts import idcard, service
from app.accounts.models import Role
from app.learning import credit
from app.learning.models import Batch, Course, Enrolment, Video, VideoProgress
from app.profile import service as profile
from app.services import Services
from devtools.demo import exams as exams_demo
from devtools.demo import invigilation as invigilation_demo
from devtools.demo import learning as learning_demo
from devtools.demo import photo as demo_photo
from devtools.demo import registration as registration_demo

BATCH_NAME = "注册安全工程师继续教育 2026年第一期"


@dataclasses.dataclass
class DemoAccount:
    role: str
    id_number: str
    name: str
    password: str
    note: str = ""
    studied: bool = False  # watched every course and uploaded a photo: ready for the exam


ACCOUNTS = (
    DemoAccount("学员", idcard.make("12010219900307451"), "张安全", "", "初始密码，首次登录须修改"),
    DemoAccount(
        "学员",
        idcard.make("12010519920818462"),
        "赵学完",
        "Xuewan#2026",
        "已学完全部课程、已上传照片，可直接考试",
        studied=True,
    ),
    DemoAccount(
        "监考员",
        idcard.make("12010319850615002"),
        "李监考",
        "Jiankao#2026",
        "已指派到正在进行的“演示考场（第一考场）”",
    ),
    DemoAccount("管理员", idcard.make("12010419800512003"), "王管理", "Guanli#2026"),
    DemoAccount(
        "注册申请人",
        idcard.make("12010619880916271"),
        "孙注册",
        "Zhuce#2026",
        "资格证书编号 ZA20240001，登录后先做注册资格信息验证",
    ),
    DemoAccount(
        "注册初审", idcard.make("12010719820303004"), "周初审", "Chushen#2026", "天津市应急管理局"
    ),
    DemoAccount("注册终审", idcard.make("12010819790404005"), "吴终审", "Zhongshen#2026"),
)
ROLES = {
    "学员": (Role.LEARNER,),
    "监考员": (Role.INVIGILATOR,),
    "管理员": (Role.ADMIN,),
    "注册申请人": (Role.REGISTRANT,),
    "注册初审": (Role.REVIEWER,),
    "注册终审": (Role.FINAL_REVIEWER,),
}


async def seed(svc: Services) -> list[DemoAccount]:
    """Create what is missing of the demo batch and accounts; return the accounts."""
    now = svc.now()
    async with svc.db.write() as db:
        batch = await db.scalar(select(Batch).where(Batch.name == BATCH_NAME))
        if batch is None:
            batch = Batch(
                name=BATCH_NAME,
                required_minutes=learning_demo.REQUIRED_MINUTES,
                required_public_minutes=learning_demo.REQUIRED_PUBLIC_MINUTES,
                min_study_days=10,
                study_deadline=now + dt.timedelta(days=180),
                exam_opens_at=now - dt.timedelta(days=1),
                exam_closes_at=now + dt.timedelta(days=200),
                created_at=now,
            )
            db.add(batch)
            await db.flush()
        await learning_demo.seed(session=db, config=svc.config, batch=batch, now=now)
        await exams_demo.seed(session=db, batch=batch, now=now)
        users = {}
        for account in ACCOUNTS:
            user = await service.get_by_id_number(session=db, id_number=account.id_number)
            if user is None:
                user = await service.create(
                    session=db,
                    config=svc.config,
                    now=now,
                    id_number=account.id_number,
                    name=account.name,
                    work_unit="演示单位（安全生产科）",
                    roles=ROLES[account.role],
                    password=account.password or None,
                )
            users[account.name] = user
            if account.role == "学员":
                enrolled = await db.scalar(
                    select(Enrolment.id).where(
                        Enrolment.user_id == user.id, Enrolment.batch_id == batch.id
                    )
                )
                if enrolled is None:
                    db.add(Enrolment(user_id=user.id, batch_id=batch.id, enrolled_at=now))
                if account.studied:
                    await _study_everything(db, user_id=user.id, batch_id=batch.id, now=now)
                    await _upload_photo(db, svc, user=user, now=now)
        await invigilation_demo.seed(
            session=db, batch=batch, invigilator=users["李监考"], admin=users["王管理"], now=now
        )
        today = now.date()
        await registration_demo.seed(
            session=db,
            now=now,
            reviewer=users["周初审"],
            records=[
                (users["孙注册"], "ZA20240001", "化工安全", today - dt.timedelta(days=300)),
                (users["张安全"], "ZA20240002", "建筑施工安全", today - dt.timedelta(days=200)),
            ],
        )
    return [dataclasses.replace(a, password=a.password or a.id_number[-6:]) for a in ACCOUNTS]


async def _study_everything(db, *, user_id: int, batch_id: int, now: dt.datetime) -> None:
    """The studied demo learner: every open course watched, spread over the batch's
    minimum study days before today, so the exam can be tried by hand at once."""
    if await db.scalar(select(VideoProgress.id).where(VideoProgress.user_id == user_id).limit(1)):
        return
    batch = await db.get(Batch, batch_id)
    videos = list(
        await db.scalars(
            select(Video)
            .join(Course, Course.id == Video.course_id)
            .where(Course.batch_id == batch_id)
            .where((Course.deadline.is_(None)) | (Course.deadline > now))
        )
    )
    days = batch.min_study_days
    for video in videos:
        step = video.duration_ms / 1000 / days
        for day in range(days):
            await credit.record_watched(
                session=db,
                user_id=user_id,
                video_id=video.id,
                start_s=day * step,
                end_s=(day + 1) * step,
                at=now - dt.timedelta(days=days - day),
            )


async def _upload_photo(db, svc: Services, *, user, now: dt.datetime) -> None:
    """The studied learner's ID photo, through the profile service like an upload, so
    that a passed demo exam gets its certificate."""
    if user.photo_file:
        return
    size = (svc.config.photo_width, svc.config.photo_height)
    await profile.upload_photo(
        session=db, config=svc.config, now=now, user=user, data=demo_photo.id_photo(size=size)
    )


def describe(accounts: list[DemoAccount]) -> str:
    """The table of demo accounts that `make run` prints."""
    lines = ["演示账号（用户名为身份证号）："]
    for a in accounts:
        note = f"  ({a.note})" if a.note else ""
        lines.append(f"  {a.role:<4} {a.name}  用户名 {a.id_number}  密码 {a.password}{note}")
    return "\n".join(lines)
