"""Study progress of a whole batch: per learner what is credited and what is short.

The rule is the learning area's (``learning.service.batch_progress``): a course counts
only when every video is complete; a study day is a day with credited time. Here it is
computed for every learner of a batch in a few grouped queries instead of per learner.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.learning.models import Batch, Course, CourseKind, Enrolment, StudyDay, Video, VideoProgress


@dataclasses.dataclass(slots=True)
class LearnerProgress:
    user_id: int
    name: str
    id_number: str
    work_unit: str
    credited: int = 0
    public: int = 0
    days: int = 0
    required_done: int = 0

    def short(self, batch: Batch, required_total: int) -> list[str]:
        """What this learner still lacks, in words."""
        missing = []
        if self.credited < batch.required_minutes:
            missing.append(f"总时长差 {batch.required_minutes - self.credited} 分钟")
        if self.public < batch.required_public_minutes:
            missing.append(f"公共课差 {batch.required_public_minutes - self.public} 分钟")
        if self.days < batch.min_study_days:
            missing.append(f"学习天数差 {batch.min_study_days - self.days} 天")
        if self.required_done < required_total:
            missing.append(f"必修课未完成 {required_total - self.required_done} 门")
        return missing


@dataclasses.dataclass
class CourseInfo:
    id: int
    name: str
    kind: str
    required: bool
    minutes: int


async def courses_of(*, session: AsyncSession, batch_id: int) -> list[CourseInfo]:
    """The batch's courses with their minutes (only courses that have videos count)."""
    rows = await session.execute(
        select(
            Course.id,
            Course.name,
            Course.kind,
            Course.required,
            func.coalesce(func.sum(Video.duration_ms), 0),
            func.count(Video.id),
        )
        .outerjoin(Video, Video.course_id == Course.id)
        .where(Course.batch_id == batch_id)
        .group_by(Course.id)
        .order_by(Course.position, Course.id)
    )
    return [
        CourseInfo(cid, name, kind, required, (ms + 30_000) // 60_000)
        for cid, name, kind, required, ms, videos in rows
        if videos or required
    ]


async def learner_progress(
    *, session: AsyncSession, batch: Batch, work_unit: str = ""
) -> tuple[list[LearnerProgress], list[CourseInfo]]:
    """Every enrolled learner's credited minutes, public minutes, days and 必修 done."""
    courses = await courses_of(session=session, batch_id=batch.id)
    people = select(User.id, User.name, User.id_number, User.work_unit).join(
        Enrolment, (Enrolment.user_id == User.id) & (Enrolment.batch_id == batch.id)
    )
    if work_unit:
        people = people.where(User.work_unit == work_unit)
    rows = {
        uid: LearnerProgress(uid, name, number, unit or "")
        for uid, name, number, unit in await session.execute(people.order_by(User.id))
    }
    if not rows:
        return [], courses
    video_counts = (
        select(Video.course_id, func.count(Video.id).label("n"))
        .join(Course, Course.id == Video.course_id)
        .where(Course.batch_id == batch.id)
        .group_by(Video.course_id)
        .subquery()
    )
    done = (
        select(
            VideoProgress.user_id.label("user_id"),
            Video.course_id.label("course_id"),
            func.count().label("n"),
        )
        .join(Video, Video.id == VideoProgress.video_id)
        .join(Course, Course.id == Video.course_id)
        .where(Course.batch_id == batch.id, VideoProgress.completed_at.is_not(None))
        .group_by(VideoProgress.user_id, Video.course_id)
        .subquery()
    )
    minutes = (
        select(
            Video.course_id.label("course_id"),
            ((func.sum(Video.duration_ms) + 30_000) / 60_000).label("m"),
        )
        .join(Course, Course.id == Video.course_id)
        .where(Course.batch_id == batch.id)
        .group_by(Video.course_id)
        .subquery()
    )
    complete = and_(done.c.n == video_counts.c.n)
    totals = await session.execute(
        select(
            done.c.user_id,
            func.sum(case((complete, minutes.c.m), else_=0)),
            func.sum(
                case((and_(complete, Course.kind == CourseKind.PUBLIC), minutes.c.m), else_=0)
            ),
            func.sum(case((and_(complete, Course.required.is_(True)), 1), else_=0)),
        )
        .join(video_counts, video_counts.c.course_id == done.c.course_id)
        .join(minutes, minutes.c.course_id == done.c.course_id)
        .join(Course, Course.id == done.c.course_id)
        .group_by(done.c.user_id)
    )
    for uid, credited, public, required in totals:
        row = rows.get(uid)
        if row is not None:
            row.credited, row.public, row.required_done = int(credited), int(public), int(required)
    days = await session.execute(
        select(StudyDay.user_id, func.count())
        .where(StudyDay.batch_id == batch.id, StudyDay.credited_ms > 0)
        .group_by(StudyDay.user_id)
    )
    for uid, count in days:
        row = rows.get(uid)
        if row is not None:
            row.days = count
    return list(rows.values()), courses


async def incomplete_required(
    *, session: AsyncSession, batch: Batch, user_ids: list[int]
) -> dict[int, list[str]]:
    """The names of the 必修 courses each of these learners has not completed."""
    required = [c for c in await courses_of(session=session, batch_id=batch.id) if c.required]
    if not required or not user_ids:
        return {uid: [] for uid in user_ids}
    totals = dict(
        (
            await session.execute(
                select(Video.course_id, func.count(Video.id))
                .where(Video.course_id.in_([c.id for c in required]))
                .group_by(Video.course_id)
            )
        ).all()
    )
    done = await session.execute(
        select(VideoProgress.user_id, Video.course_id, func.count())
        .join(Video, Video.id == VideoProgress.video_id)
        .where(
            VideoProgress.user_id.in_(user_ids),
            Video.course_id.in_([c.id for c in required]),
            VideoProgress.completed_at.is_not(None),
        )
        .group_by(VideoProgress.user_id, Video.course_id)
    )
    finished = {(u, c) for u, c, n in done if n == totals.get(c)}
    return {uid: [c.name for c in required if (uid, c.id) not in finished] for uid in user_ids}


@dataclasses.dataclass
class Summary:
    learners: int
    met_total: int
    met_public: int
    met_days: int
    met_required: int
    met_all: int
    started: int
    histogram: list[tuple[str, int]]  # credited minutes as a share of the requirement


def summarise(rows: list[LearnerProgress], batch: Batch, required_total: int) -> Summary:
    """The counts and the distribution the first screen shows."""
    bins = ["0", "1–25%", "26–50%", "51–75%", "76–99%", "已达标"]
    counts = dict.fromkeys(bins, 0)
    met = [0, 0, 0, 0, 0]
    started = 0
    need = max(1, batch.required_minutes)
    for row in rows:
        flags = (
            row.credited >= batch.required_minutes,
            row.public >= batch.required_public_minutes,
            row.days >= batch.min_study_days,
            row.required_done >= required_total,
        )
        for index, flag in enumerate(flags):
            met[index] += flag
        met[4] += all(flags)
        started += bool(row.credited or row.days)
        share = row.credited * 100 // need
        if flags[0]:
            counts["已达标"] += 1
        elif share == 0:
            counts["0"] += 1
        else:
            counts[bins[min(4, 1 + (share - 1) // 25)]] += 1
    return Summary(len(rows), *met, started, list(counts.items()))
