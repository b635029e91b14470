"""Courses, videos and materials for administrators.

A course belongs to one batch, so that each batch's hours are earned in that batch (the
seed system's rule: a learner who fails three times enrols again and studies again). A
course reused in another batch is *copied* there: the copy has its own progress, but
shares the media files, and names the first course as its origin so the page can say
which batches use the same course. Media files are never overwritten: a replaced or
deleted video leaves its file to be removed once no row refers to it any more.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.errors import AppError, Invalid, NotFound
from app.learning.models import (
    KIND_LABELS,
    Batch,
    Course,
    Material,
    Video,
    VideoProgress,
)
from app.learning.service import minutes_of

LABELS = {
    "name": "课程名称",
    "lecturer": "主讲人",
    "kind": "课程类型",
    "required": "必修",
    "deadline": "截止日期（下架时间）",
}
# A replacement within this much of the old length is "the same video": credit stays.
SAME_DURATION_MS = 1000


@dataclasses.dataclass
class CourseInput:
    name: str
    lecturer: str
    kind: str
    required: bool
    deadline: dt.datetime | None

    def values(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _values(course: Course) -> dict[str, object]:
    return {name: getattr(course, name) for name in LABELS}


async def record(session, now, actor, action, detail, changes=None) -> None:
    """Write an admin's catalogue change to the audit log."""
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action=action,
        detail=detail,
        ip=actor.ip,
        changes=changes,
    )


def root_of(course: Course) -> int:
    """The first course of a family of copies."""
    return course.origin_id or course.id


async def get(*, session: AsyncSession, course_id: int) -> Course:
    """The course, or a Chinese 404."""
    course = await session.get(Course, course_id)
    if course is None:
        raise NotFound("课程不存在")
    return course


@dataclasses.dataclass
class CourseRow:
    course: Course
    batch: Batch
    videos: int
    duration_ms: int
    learners: int  # learners with credited time in it

    @property
    def minutes(self) -> int:
        return minutes_of(self.duration_ms)


async def get_all(
    *, session: AsyncSession, batch_id: int | None = None, query: str = ""
) -> list[CourseRow]:
    """Courses (of one batch, or all) in their batch's order, with their numbers."""
    videos = (
        select(
            Video.course_id,
            func.count(Video.id).label("n"),
            func.sum(Video.duration_ms).label("ms"),
        )
        .group_by(Video.course_id)
        .subquery()
    )
    learners = (
        select(Video.course_id, func.count(func.distinct(VideoProgress.user_id)).label("n"))
        .join(VideoProgress, VideoProgress.video_id == Video.id)
        .where(VideoProgress.watched_ms > 0)
        .group_by(Video.course_id)
        .subquery()
    )
    stmt = (
        select(
            Course,
            Batch,
            func.coalesce(videos.c.n, 0),
            func.coalesce(videos.c.ms, 0),
            func.coalesce(learners.c.n, 0),
        )
        .join(Batch, Batch.id == Course.batch_id)
        .outerjoin(videos, videos.c.course_id == Course.id)
        .outerjoin(learners, learners.c.course_id == Course.id)
        .order_by(Batch.closed_at.is_not(None), Batch.id.desc(), Course.position, Course.id)
    )
    if batch_id:
        stmt = stmt.where(Course.batch_id == batch_id)
    if query:
        stmt = stmt.where(
            Course.name.contains(query, autoescape=True)
            | Course.lecturer.contains(query, autoescape=True)
        )
    return [CourseRow(*row) for row in await session.execute(stmt)]


async def batches_using(*, session: AsyncSession, course: Course) -> list[tuple[Course, Batch]]:
    """Every batch that carries this course (the course itself and its copies)."""
    root = root_of(course)
    rows = await session.execute(
        select(Course, Batch)
        .join(Batch, Batch.id == Course.batch_id)
        .where(or_(Course.id == root, Course.origin_id == root))
        .order_by(Batch.id)
    )
    return list(rows.tuples())


def _check(values: CourseInput, *, now: dt.datetime, course: Course | None) -> dict[str, str]:
    errors = {}
    if values.kind not in KIND_LABELS:
        errors["kind"] = "请选择课程类型（公共课或专业课）"
    changed = course is None or course.deadline != values.deadline
    if values.deadline is not None and changed and values.deadline <= now:
        errors["deadline"] = "截止日期必须晚于现在；如要立即下架，请使用“下架”"
    return errors


async def create(
    *, session: AsyncSession, now: dt.datetime, actor, batch: Batch, values: CourseInput
) -> Course:
    """A new course at the end of the batch's list."""
    errors = _check(values, now=now, course=None)
    if batch.closed_at is not None:
        errors["batch_id"] = f"批次《{batch.name}》已结束，不能再添加课程"
    if errors:
        raise Invalid(errors)
    last = await session.scalar(
        select(func.max(Course.position)).where(Course.batch_id == batch.id)
    )
    course = Course(batch_id=batch.id, **values.values(), position=(last or 0) + 1, created_at=now)
    session.add(course)
    await session.flush()
    await record(
        session, now, actor, "course.create", f"在《{batch.name}》新建课程《{course.name}》"
    )
    return course


async def update_course(
    *, session: AsyncSession, now: dt.datetime, actor, course: Course, values: CourseInput
) -> dict:
    """Change a course's description; returns what changed."""
    errors = _check(values, now=now, course=course)
    if errors:
        raise Invalid(errors)
    changes = audit.diff(_values(course), values.values(), LABELS)
    if changes:
        for name, value in values.values().items():
            setattr(course, name, value)
        await session.flush()
        await record(session, now, actor, "course.update", f"修改课程《{course.name}》", changes)
    return changes


async def withdraw(*, session: AsyncSession, now: dt.datetime, actor, course: Course) -> None:
    """下架 now: learners who completed it keep it; nobody earns more credit in it."""
    if course.withdrawn_at(now):
        raise AppError("course_withdrawn", "该课程已下架")
    before = course.deadline
    course.deadline = now
    await session.flush()
    await record(
        session,
        now,
        actor,
        "course.withdraw",
        f"下架课程《{course.name}》",
        {LABELS["deadline"]: (before, now)},
    )


async def relist(
    *, session: AsyncSession, now: dt.datetime, actor, course: Course, deadline: dt.datetime | None
) -> None:
    """Put a withdrawn course back, with a new deadline or none."""
    if deadline is not None and deadline <= now:
        raise Invalid({"deadline": "新的截止日期必须晚于现在（不填表示长期有效）"})
    before = course.deadline
    course.deadline = deadline
    await session.flush()
    await record(
        session,
        now,
        actor,
        "course.relist",
        f"重新上架课程《{course.name}》",
        {LABELS["deadline"]: (before, deadline)},
    )


async def move(*, session: AsyncSession, now: dt.datetime, actor, course: Course, up: bool) -> None:
    """Swap a course with its neighbour in the batch's order."""
    siblings = list(
        await session.scalars(
            select(Course)
            .where(Course.batch_id == course.batch_id)
            .order_by(Course.position, Course.id)
        )
    )
    index = siblings.index(course)
    other = index - 1 if up else index + 1
    if not 0 <= other < len(siblings):
        return
    siblings[index], siblings[other] = siblings[other], siblings[index]
    for position, item in enumerate(siblings, 1):
        item.position = position
    await session.flush()
    await record(session, now, actor, "course.move", f"调整课程《{course.name}》的顺序")


async def credited_learners(*, session: AsyncSession, course_id: int) -> int:
    """How many learners earned time in a course."""
    return await session.scalar(
        select(func.count(func.distinct(VideoProgress.user_id)))
        .join(Video, Video.id == VideoProgress.video_id)
        .where(Video.course_id == course_id, VideoProgress.watched_ms > 0)
    )


async def delete_course(
    *, session: AsyncSession, now: dt.datetime, actor, course: Course
) -> list[str]:
    """Delete a course nobody studied; returns media files no longer used by anything."""
    learners = await credited_learners(session=session, course_id=course.id)
    if learners:
        raise AppError(
            "course_has_credit",
            f"已有 {learners} 名学员在该课程获得学习时长，不能删除；请改为“下架”，学过的学员仍保留记录",
        )
    files = await _files_of(session, course_ids=[course.id])
    # Copies point at the first course: the next one becomes the family's origin.
    copies = list(await session.scalars(select(Course).where(Course.origin_id == course.id)))
    for position, copy in enumerate(copies):
        copy.origin_id = None if position == 0 else copies[0].id
    await session.flush()
    await session.execute(delete(Material).where(Material.course_id == course.id))
    await session.execute(delete(Video).where(Video.course_id == course.id))
    await session.delete(course)
    await session.flush()
    await record(session, now, actor, "course.delete", f"删除课程《{course.name}》")
    return await unused_files(session=session, files=files)


async def copy_to(
    *, session: AsyncSession, now: dt.datetime, actor, course: Course, batch: Batch
) -> Course:
    """Reuse a course in another batch: a copy with the same videos and materials."""
    if batch.closed_at is not None:
        raise Invalid({"batch_id": f"批次《{batch.name}》已结束"})
    root = root_of(course)
    exists = await session.scalar(
        select(Course.id).where(
            Course.batch_id == batch.id, or_(Course.id == root, Course.origin_id == root)
        )
    )
    if exists is not None:
        raise Invalid({"batch_id": f"《{batch.name}》已经使用该课程"})
    last = await session.scalar(
        select(func.max(Course.position)).where(Course.batch_id == batch.id)
    )
    copy = Course(
        batch_id=batch.id,
        **_values(course),
        position=(last or 0) + 1,
        created_at=now,
        origin_id=root,
    )
    session.add(copy)
    await session.flush()
    for video in await session.scalars(select(Video).where(Video.course_id == course.id)):
        session.add(
            Video(
                course_id=copy.id,
                title=video.title,
                position=video.position,
                duration_ms=video.duration_ms,
                file=video.file,
                mimetype=video.mimetype,
                poster=video.poster,
                size_bytes=video.size_bytes,
                created_at=now,
            )
        )
    for item in await session.scalars(select(Material).where(Material.course_id == course.id)):
        session.add(
            Material(
                batch_id=batch.id,
                course_id=copy.id,
                kind=item.kind,
                title=item.title,
                file=item.file,
                size_bytes=item.size_bytes,
                created_at=now,
            )
        )
    await session.flush()
    await record(
        session, now, actor, "course.copy", f"将课程《{course.name}》复用到《{batch.name}》"
    )
    return copy


# ---------------------------------------------------------------------------- files


async def _files_of(session: AsyncSession, *, course_ids: list[int]) -> list[str]:
    files: list[str] = []
    for file, poster in await session.execute(
        select(Video.file, Video.poster).where(Video.course_id.in_(course_ids))
    ):
        files += [f for f in (file, poster) if f]
    files += list(
        await session.scalars(select(Material.file).where(Material.course_id.in_(course_ids)))
    )
    return files


async def unused_files(*, session: AsyncSession, files: list[str]) -> list[str]:
    """Those of these media files that no video or material refers to any more."""
    if not files:
        return []
    used = set(await session.scalars(select(Video.file).where(Video.file.in_(files))))
    used |= set(await session.scalars(select(Video.poster).where(Video.poster.in_(files))))
    used |= set(await session.scalars(select(Material.file).where(Material.file.in_(files))))
    return sorted(set(files) - used)
