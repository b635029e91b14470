"""Demo courses for the demo batch: six short courses with real, playable videos.

The videos are committed under ``media/`` (made once by ``media/generate.py``);
seeding copies them into the media directory and reads their durations with ffprobe.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import shutil
import zipfile
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Config
from app.learning import videos
from app.learning.models import Batch, Course, CourseKind, Material, Video

DEMO_MEDIA = Path(__file__).resolve().parent / "media"


@dataclasses.dataclass(frozen=True)
class DemoVideo:
    file: str
    title: str
    seconds: int


@dataclasses.dataclass(frozen=True)
class DemoCourse:
    name: str
    lecturer: str
    kind: str
    required: bool
    colour: str
    videos: tuple[DemoVideo, ...]
    deadline_days: int | None = None


COURSES = (
    DemoCourse(
        "安全生产法律法规新要求解读",
        "刘建国",
        CourseKind.PUBLIC,
        True,
        "0x1f6fd1",
        (
            DemoVideo("law-1.mp4", "《安全生产法》修订要点", 60),
            DemoVideo("law-2.mp4", "生产经营单位的主体责任", 60),
        ),
    ),
    DemoCourse(
        "安全生产责任制与双重预防机制",
        "王海燕",
        CourseKind.PUBLIC,
        True,
        "0x2b8a5a",
        (
            DemoVideo("duty-1.mp4", "全员安全生产责任制", 60),
            DemoVideo("duty-2.mp4", "风险分级管控与隐患排查治理", 60),
        ),
    ),
    DemoCourse(
        "注册安全工程师职业道德与法律责任",
        "陈立新",
        CourseKind.PUBLIC,
        False,
        "0x7a4fc2",
        (DemoVideo("ethics-1.mp4", "执业规范与职业道德", 60),),
    ),
    DemoCourse(
        "危险化学品安全管理",
        "赵志强",
        CourseKind.PROFESSIONAL,
        False,
        "0xc0562a",
        (
            DemoVideo("chem-1.mp4", "危险化学品的辨识与分类", 60),
            DemoVideo("chem-2.mp4", "储存、运输与应急处置", 60),
        ),
    ),
    DemoCourse(
        "建筑施工高处作业与脚手架安全",
        "孙伟华",
        CourseKind.PROFESSIONAL,
        False,
        "0x0e7c86",
        (
            DemoVideo("height-1.mp4", "高处作业安全技术", 60),
            DemoVideo("height-2.mp4", "脚手架与模板支撑系统", 60),
        ),
        deadline_days=90,
    ),
    DemoCourse(
        "特种设备安全技术",
        "李明",
        CourseKind.PROFESSIONAL,
        False,
        "0x8a5a2b",
        (DemoVideo("equip-1.mp4", "起重机械事故案例分析与预防", 60),),
    ),
)
# Consistent with COURSES: the two required public courses make the public minutes; any
# two more minutes make the total.
REQUIRED_MINUTES = 6
REQUIRED_PUBLIC_MINUTES = 4

MATERIALS = (
    (CourseKind.PUBLIC, "注册安全工程师继续教育公共课教材", "public-materials.zip"),
    (CourseKind.PROFESSIONAL, "注册安全工程师继续教育专业课教材", "professional-materials.zip"),
)


def _material_zip(kind: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for course in COURSES:
            if course.kind != kind:
                continue
            lines = [f"《{course.name}》学习提纲", f"主讲人：{course.lecturer}", ""]
            lines += [f"第{i}讲  {v.title}" for i, v in enumerate(course.videos, 1)]
            archive.writestr(f"{course.name}.txt", "\n".join(lines) + "\n")
    return buffer.getvalue()


async def seed(*, session: AsyncSession, config: Config, batch: Batch, now: dt.datetime) -> None:
    """Give the demo batch its courses, videos and materials, unless it has courses."""
    has_courses = await session.scalar(
        select(func.count(Course.id)).where(Course.batch_id == batch.id)
    )
    if has_courses:
        return
    target = config.data_dir / "media" / "demo"
    target.mkdir(parents=True, exist_ok=True)
    batch.required_minutes = REQUIRED_MINUTES
    batch.required_public_minutes = REQUIRED_PUBLIC_MINUTES
    for position, spec in enumerate(COURSES, 1):
        course = Course(
            batch_id=batch.id,
            name=spec.name,
            lecturer=spec.lecturer,
            kind=spec.kind,
            required=spec.required,
            deadline=now + dt.timedelta(days=spec.deadline_days) if spec.deadline_days else None,
            position=position,
            created_at=now,
        )
        session.add(course)
        await session.flush()
        for order, video in enumerate(spec.videos, 1):
            path = target / video.file
            if not path.exists():
                shutil.copyfile(DEMO_MEDIA / video.file, path)
            info = await videos.probe(path)  # as for an admin's upload: ffprobe reads it
            session.add(
                Video(
                    course_id=course.id,
                    title=video.title,
                    position=order,
                    duration_ms=info.duration_ms,
                    file=f"demo/{video.file}",
                    mimetype=info.mimetype,
                    created_at=now,
                )
            )
    for kind, title, name in MATERIALS:
        path = target / name
        path.write_bytes(_material_zip(kind))
        session.add(
            Material(
                batch_id=batch.id,
                kind=kind,
                title=title,
                file=f"demo/{name}",
                size_bytes=path.stat().st_size,
                created_at=now,
            )
        )
    await session.flush()
