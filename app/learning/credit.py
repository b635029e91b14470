"""Where watched time becomes credit: ``record_watched`` (one beat) and
``record_watched_many`` (the study flusher's batch), study days, completed courses."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import local_date
from app.errors import NotFound
from app.learning import segments
from app.learning.models import (
    Batch,
    Course,
    StudyDay,
    Video,
    VideoProgress,
)


@dataclasses.dataclass
class Watched:
    """What one ``record_watched`` call changed."""

    video_id: int
    course_id: int
    new_ms: int
    watched_ms: int
    duration_ms: int
    position_ms: int
    complete: bool
    course_complete: bool
    closed: bool = False

    @property
    def percent(self) -> int:
        return segments.percent(self.watched_ms, self.duration_ms)


@dataclasses.dataclass(frozen=True)
class Credit:
    """A segment of a video a learner watched, as proved at server time `at`."""

    user_id: int
    video_id: int
    start_s: float
    end_s: float
    at: dt.datetime


async def record_watched(
    *,
    session: AsyncSession,
    user_id: int,
    video_id: int,
    start_s: float,
    end_s: float,
    at: dt.datetime,
) -> Watched:
    """Add the segment [start_s, end_s) of a video to what the learner has watched.

    Only the part not watched before is new credit; it counts for the study day of `at`
    (Asia/Shanghai). Nothing is credited at or after the course deadline or the batch's
    study deadline. The heartbeat path and tests both come through here."""
    credit = Credit(user_id=user_id, video_id=video_id, start_s=start_s, end_s=end_s, at=at)
    (watched,) = await record_watched_many(session=session, credits=[credit])
    return watched


async def record_watched_many(*, session: AsyncSession, credits: list[Credit]) -> list[Watched]:
    """``record_watched`` for many credits with a fixed number of statements, so that a
    group commit of hundreds of heartbeats costs about as much as one."""
    video_ids = {c.video_id for c in credits}
    videos = {
        row.id: row
        for row in await session.execute(
            select(
                Video.id,
                Video.duration_ms,
                Video.course_id,
                Course.deadline,
                Course.batch_id,
                Batch.study_deadline,
            )
            .join(Course, Course.id == Video.course_id)
            .join(Batch, Batch.id == Course.batch_id)
            .where(Video.id.in_(video_ids))
        )
    }
    if video_ids - videos.keys():
        raise NotFound("视频不存在")
    # Plain rows and bulk statements, not ORM objects: a group may hold hundreds.
    rows = await session.execute(
        select(
            VideoProgress.id,
            VideoProgress.user_id,
            VideoProgress.video_id,
            VideoProgress.segments,
            VideoProgress.completed_at,
        )
        .where(
            VideoProgress.user_id.in_({c.user_id for c in credits}),
            VideoProgress.video_id.in_(video_ids),
        )
        # Two flushers may hold the same credit (one reclaimed it): the row lock makes
        # the second see the first's result, so the union adds nothing twice.
        .with_for_update()
    )
    progress = {
        (user_id, video_id): {
            "id": row_id,
            "segs": segments.parse(stored),
            "completed_at": completed_at,
            "last_position_ms": None,
            "dirty": False,
        }
        for row_id, user_id, video_id, stored, completed_at in rows
    }
    days: dict[tuple[int, int, dt.date], int] = {}
    results: list[Watched] = []
    for credit in credits:
        video = videos[credit.video_id]
        key = (credit.user_id, credit.video_id)
        row = progress.setdefault(
            key,
            {"id": None, "segs": [], "completed_at": None, "last_position_ms": 0, "dirty": True},
        )
        start = max(0, round(credit.start_s * 1000))
        end = min(video.duration_ms, round(credit.end_s * 1000))
        closed = (
            video.deadline is not None and credit.at >= video.deadline
        ) or credit.at >= video.study_deadline
        new = 0
        if not closed and end > start:
            row["segs"], new = segments.add(row["segs"], start, end)
            row.update(last_position_ms=end, updated_at=credit.at, dirty=True)
            watched = segments.covered_ms(row["segs"])
            if row["completed_at"] is None and segments.is_complete(watched, video.duration_ms):
                row["completed_at"] = credit.at
        row.setdefault("updated_at", credit.at)
        if new:
            day = (credit.user_id, video.batch_id, local_date(credit.at))
            days[day] = days.get(day, 0) + new
        results.append(
            Watched(
                video_id=credit.video_id,
                course_id=video.course_id,
                new_ms=new,
                watched_ms=segments.covered_ms(row["segs"]),
                duration_ms=video.duration_ms,
                position_ms=row["last_position_ms"] or 0,
                complete=row["completed_at"] is not None,
                course_complete=False,
                closed=closed,
            )
        )
    inserts, updates = [], []
    for (user_id, video_id), row in progress.items():
        if not row["dirty"]:
            continue
        values = {
            "segments": segments.dump(row["segs"]),
            "watched_ms": segments.covered_ms(row["segs"]),
            "completed_at": row["completed_at"],
            "updated_at": row["updated_at"],
        }
        if row["last_position_ms"] is not None:
            values["last_position_ms"] = row["last_position_ms"]
        if row["id"] is None:
            inserts.append({"user_id": user_id, "video_id": video_id, **values})
        else:
            updates.append({"id": row["id"], **values})
    if inserts:
        await session.execute(insert(VideoProgress), inserts)
    # Bulk UPDATE by primary key wants the same keys in every row: group by key set.
    for keys in {tuple(sorted(u)) for u in updates}:
        await session.execute(
            update(VideoProgress), [u for u in updates if tuple(sorted(u)) == keys]
        )
    if days:
        await _add_study_time(session, days)
    await session.flush()
    finished = {
        (c.user_id, w.course_id) for c, w in zip(credits, results, strict=True) if w.complete
    }
    if finished:
        complete_courses = await _complete_courses(session, finished)
        for credit, watched in zip(credits, results, strict=True):
            watched.course_complete = (credit.user_id, watched.course_id) in complete_courses
    return results


async def _add_study_time(session: AsyncSession, days: dict[tuple[int, int, dt.date], int]) -> None:
    """Add credited time to study days: one upsert for all of them."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(StudyDay)
    statement = statement.on_conflict_do_update(
        index_elements=[StudyDay.user_id, StudyDay.batch_id, StudyDay.day],
        set_={"credited_ms": StudyDay.credited_ms + statement.excluded.credited_ms},
    )
    connection = await session.connection()
    await connection.execute(
        statement,
        [
            {"user_id": u, "batch_id": b, "day": d, "credited_ms": ms}
            for (u, b, d), ms in days.items()
        ],
    )


async def sibling_videos(
    *, session: AsyncSession, user_id: int, video_id: int
) -> list[tuple[int, int, bool]]:
    """The other videos of this video's course: (id, duration_ms, complete in the database)."""
    course_id = select(Video.course_id).where(Video.id == video_id).scalar_subquery()
    rows = await session.execute(
        select(Video.id, Video.duration_ms, VideoProgress.completed_at)
        .outerjoin(
            VideoProgress,
            (VideoProgress.video_id == Video.id) & (VideoProgress.user_id == user_id),
        )
        .where(Video.course_id == course_id, Video.id != video_id)
    )
    return [(vid, duration, done is not None) for vid, duration, done in rows]


async def _complete_courses(
    session: AsyncSession, pairs: set[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Which (user, course) pairs have every video of the course complete."""
    course_ids = {c for _, c in pairs}
    totals = dict(
        (
            await session.execute(
                select(Video.course_id, func.count(Video.id))
                .where(Video.course_id.in_(course_ids))
                .group_by(Video.course_id)
            )
        ).all()
    )
    done = await session.execute(
        select(VideoProgress.user_id, Video.course_id, func.count(VideoProgress.id))
        .join(Video, Video.id == VideoProgress.video_id)
        .where(
            VideoProgress.user_id.in_({u for u, _ in pairs}),
            Video.course_id.in_(course_ids),
            VideoProgress.completed_at.is_not(None),
        )
        .group_by(VideoProgress.user_id, Video.course_id)
    )
    return {
        (user, course)
        for user, course, count in done
        if (user, course) in pairs and count == totals.get(course)
    }


async def study_days(*, session: AsyncSession, user_id: int) -> list[StudyDay]:
    """Every study day of a learner (all batches), newest first."""
    rows = await session.scalars(
        select(StudyDay)
        .where(StudyDay.user_id == user_id, StudyDay.credited_ms > 0)
        .order_by(StudyDay.day.desc(), StudyDay.batch_id)
    )
    return list(rows)
