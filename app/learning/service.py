"""Courses, materials and progress: what a learner sees on 我的课程 and the video page,
and ``record_watched``, the one place where watched time becomes credit."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import local_date, shanghai_text
from app.config import Config
from app.errors import AppError, NotFound
from app.learning import segments
from app.learning.models import (
    Batch,
    Course,
    CourseKind,
    Enrolment,
    Material,
    StudyDay,
    Video,
    VideoProgress,
)

NOT_ENROLLED = "您未报名该课程所属的培训批次"
WITHDRAWN = "该课程已过截止日期，已下架，不再计入学习时长"
STUDY_CLOSED = "本批次学习已截止，不再计入学习时长"


def minutes_of(duration_ms: int) -> int:
    """Course minutes from the total length of its videos (rounded to the minute)."""
    return (duration_ms + 30_000) // 60_000


@dataclasses.dataclass
class VideoState:
    video: Video
    watched_ms: int = 0
    last_position_ms: int = 0
    complete: bool = False

    @property
    def percent(self) -> int:
        return segments.percent(self.watched_ms, self.video.duration_ms)


@dataclasses.dataclass
class CourseRow:
    course: Course
    videos: list[VideoState]
    withdrawn: bool = False

    @property
    def duration_ms(self) -> int:
        return sum(v.video.duration_ms for v in self.videos)

    @property
    def minutes(self) -> int:
        return minutes_of(self.duration_ms)

    @property
    def complete(self) -> bool:
        return bool(self.videos) and all(v.complete for v in self.videos)

    @property
    def percent(self) -> int:
        if self.complete:
            return 100
        total = self.duration_ms
        watched = sum(min(v.watched_ms, v.video.duration_ms) for v in self.videos)
        return min(99, watched * 100 // total) if total else 0

    @property
    def status(self) -> str:
        if self.complete:
            return "已完成"
        return "学习中" if any(v.watched_ms for v in self.videos) else "未开始"

    def next_video(self) -> VideoState | None:
        """Where 开始学习 leads: the first unfinished video, else the first one."""
        return next(
            (v for v in self.videos if not v.complete), self.videos[0] if self.videos else None
        )


@dataclasses.dataclass
class BatchProgress:
    batch: Batch
    credited_minutes: int  # minutes of 100%-complete courses (see batch_progress)
    public_minutes: int  # of which 公共课
    study_days: int  # distinct Asia/Shanghai days with credited time
    incomplete_required: list[str]  # names of 必修 courses not yet complete


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


async def enrolled_batches(*, session: AsyncSession, user_id: int) -> list[Batch]:
    """The batches a learner is enrolled in, newest first."""
    rows = await session.scalars(
        select(Batch)
        .join(Enrolment, Enrolment.batch_id == Batch.id)
        .where(Enrolment.user_id == user_id)
        .order_by(Batch.created_at.desc(), Batch.id.desc())
    )
    return list(rows)


async def is_enrolled(*, session: AsyncSession, user_id: int, batch_id: int) -> bool:
    """Whether the learner is enrolled in the batch."""
    found = await session.scalar(
        select(Enrolment.id).where(Enrolment.user_id == user_id, Enrolment.batch_id == batch_id)
    )
    return found is not None


async def course_rows(
    *, session: AsyncSession, user_id: int, batch_id: int, course_id: int | None = None
) -> list[CourseRow]:
    """Every course of a batch (or one course) with its videos and the learner's progress."""
    query = select(Course).where(Course.batch_id == batch_id)
    if course_id is not None:
        query = query.where(Course.id == course_id)
    courses = list(await session.scalars(query.order_by(Course.position, Course.id)))
    if not courses:
        return []
    by_course = {c.id: CourseRow(course=c, videos=[]) for c in courses}
    videos = await session.scalars(
        select(Video).where(Video.course_id.in_(by_course)).order_by(Video.position, Video.id)
    )
    states: dict[int, VideoState] = {}
    for video in videos:
        states[video.id] = VideoState(video=video)
        by_course[video.course_id].videos.append(states[video.id])
    if states:
        progress = await session.execute(
            select(
                VideoProgress.video_id,
                VideoProgress.watched_ms,
                VideoProgress.last_position_ms,
                VideoProgress.completed_at,
            ).where(VideoProgress.user_id == user_id, VideoProgress.video_id.in_(states))
        )
        for video_id, watched, position, completed_at in progress:
            state = states[video_id]
            state.watched_ms = watched
            state.last_position_ms = position
            state.complete = completed_at is not None
    return list(by_course.values())


async def catalogue(
    *, session: AsyncSession, user_id: int, batch_id: int, now: dt.datetime
) -> list[CourseRow]:
    """The course table: withdrawn courses disappear unless the learner completed them."""
    rows = await course_rows(session=session, user_id=user_id, batch_id=batch_id)
    shown = []
    for row in rows:
        row.withdrawn = row.course.withdrawn_at(now)
        if not row.withdrawn or row.complete:
            shown.append(row)
    return shown


async def batch_progress(*, session: AsyncSession, user_id: int, batch_id: int) -> BatchProgress:
    """Credited minutes (total and 公共课), study days and unfinished 必修 courses.

    A course counts only when 100% complete. Credit stops at a course's deadline, so a
    withdrawn course can only be complete if it was finished before it was withdrawn; such
    a course keeps its minutes (the seed system's rule: finish before the deadline)."""
    batch = await session.get(Batch, batch_id)
    if batch is None:
        raise NotFound("培训批次不存在")
    rows = await course_rows(session=session, user_id=user_id, batch_id=batch_id)
    complete = [r for r in rows if r.complete]
    days = await session.scalar(
        select(func.count()).where(
            StudyDay.user_id == user_id, StudyDay.batch_id == batch_id, StudyDay.credited_ms > 0
        )
    )
    return BatchProgress(
        batch=batch,
        credited_minutes=sum(r.minutes for r in complete),
        public_minutes=sum(r.minutes for r in complete if r.course.kind == CourseKind.PUBLIC),
        study_days=days or 0,
        incomplete_required=[r.course.name for r in rows if r.course.required and not r.complete],
    )


def study_shortfalls(progress: BatchProgress, *, now: dt.datetime) -> list[str]:
    """What keeps a learner from the exam on the study side: the exam window, minutes,
    公共课 minutes, study days and 必修 courses (我的考试 adds the attempts)."""
    batch = progress.batch
    reasons = []
    if now < batch.exam_opens_at:
        reasons.append(f"考试未开放（{shanghai_text(batch.exam_opens_at)} 开放）")
    elif now >= batch.exam_closes_at:
        reasons.append("考试已结束")
    missing_total = batch.required_minutes - progress.credited_minutes
    if missing_total > 0:
        reasons.append(f"总学习时长还差 {missing_total} 分钟")
    missing_public = batch.required_public_minutes - progress.public_minutes
    if missing_public > 0:
        reasons.append(f"公共课还差 {missing_public} 分钟")
    if progress.study_days < batch.min_study_days:
        reasons.append(f"学习天数 {progress.study_days}/{batch.min_study_days}")
    for name in progress.incomplete_required:
        reasons.append(f"必修课《{name}》未完成")
    return reasons


@dataclasses.dataclass
class PlayTarget:
    """What starting to play a video needs: checked, in one query."""

    video_id: int
    course_id: int
    batch_id: int
    duration_ms: int
    until: dt.datetime  # credit stops here: the course deadline or the batch's, if sooner
    resume_ms: int
    segments: str  # the stored watched segments (JSON)
    # The batch's attention checks (防挂机): on or off, every min..max minutes of play.
    attention_checks: bool = True
    attention_min_minutes: int = 10
    attention_max_minutes: int = 20


async def play_target(
    *, session: AsyncSession, user_id: int, video_id: int, now: dt.datetime
) -> PlayTarget:
    """A video the learner may play now: it exists, they are enrolled, the course is open."""
    row = (
        await session.execute(
            select(
                Video.duration_ms,
                Video.course_id,
                Course.batch_id,
                Course.deadline,
                Batch.study_deadline,
                Enrolment.id,
                VideoProgress.segments,
                VideoProgress.last_position_ms,
                Batch.attention_checks,
                Batch.attention_min_minutes,
                Batch.attention_max_minutes,
            )
            .join(Course, Course.id == Video.course_id)
            .join(Batch, Batch.id == Course.batch_id)
            .outerjoin(Enrolment, (Enrolment.batch_id == Batch.id) & (Enrolment.user_id == user_id))
            .outerjoin(
                VideoProgress,
                (VideoProgress.video_id == Video.id) & (VideoProgress.user_id == user_id),
            )
            .where(Video.id == video_id)
        )
    ).first()
    if row is None:
        raise NotFound("视频不存在")
    duration, course_id, batch_id, deadline, study_deadline, enrolment, stored, position = row[:8]
    checks, low, high = row[8:]
    if enrolment is None:
        raise AppError("not_enrolled", NOT_ENROLLED, 403)
    if deadline is not None and now >= deadline:
        raise AppError("course_withdrawn", WITHDRAWN, 410)
    if now >= study_deadline:
        raise AppError("study_closed", STUDY_CLOSED, 410)
    position = position or 0
    return PlayTarget(
        video_id=video_id,
        course_id=course_id,
        batch_id=batch_id,
        duration_ms=duration,
        until=min(d for d in (deadline, study_deadline) if d is not None),
        resume_ms=0 if position >= duration - 1000 else position,
        segments=stored or "[]",
        attention_checks=bool(checks),
        attention_min_minutes=low,
        attention_max_minutes=high,
    )


async def playable_course(
    *, session: AsyncSession, user_id: int, video_id: int, now: dt.datetime
) -> tuple[Batch, CourseRow, VideoState]:
    """The course of a video for the video page, checked as ``play_target`` does."""
    target = await play_target(session=session, user_id=user_id, video_id=video_id, now=now)
    batch = await session.get(Batch, target.batch_id)
    (row,) = await course_rows(
        session=session, user_id=user_id, batch_id=batch.id, course_id=target.course_id
    )
    state = next(v for v in row.videos if v.video.id == video_id)
    return batch, row, state


def resume_ms(state: VideoState) -> int:
    """Where playing resumes: the last credited position, or the start once near the end."""
    if state.last_position_ms >= state.video.duration_ms - 1000:
        return 0
    return state.last_position_ms


async def video_file(
    *, session: AsyncSession, config: Config, user_id: int, video_id: int, poster: bool = False
) -> tuple[Path, str]:
    """The file and type of a video the learner may watch (or of its poster frame)."""
    video = await session.get(Video, video_id)
    if video is None:
        raise NotFound("视频不存在")
    course = await session.get(Course, video.course_id)
    if not await is_enrolled(session=session, user_id=user_id, batch_id=course.batch_id):
        raise AppError("not_enrolled", NOT_ENROLLED, 403)
    if poster:
        if not video.poster:
            raise NotFound("该视频没有封面")
        return media_path(config, video.poster), "image/jpeg"
    return media_path(config, video.file), video.mimetype


async def materials(*, session: AsyncSession, batch_id: int, now: dt.datetime) -> list[Material]:
    """The batch's study materials, without those of withdrawn courses."""
    rows = await session.execute(
        select(Material, Course.deadline)
        .outerjoin(Course, Course.id == Material.course_id)
        .where(Material.batch_id == batch_id)
        .order_by(Material.kind.desc(), Material.id)
    )
    return [m for m, deadline in rows if deadline is None or now < deadline]


async def material_file(
    *, session: AsyncSession, config: Config, user_id: int, material_id: int, now: dt.datetime
) -> tuple[Material, Path]:
    """A material the learner may download, and its file."""
    material = await session.get(Material, material_id)
    if material is None:
        raise NotFound("资料不存在")
    if not await is_enrolled(session=session, user_id=user_id, batch_id=material.batch_id):
        raise AppError("not_enrolled", "您未报名该资料所属的培训批次", 403)
    if material.course_id is not None:
        course = await session.get(Course, material.course_id)
        if course.withdrawn_at(now):
            raise AppError("course_withdrawn", "该课程已下架，资料不再提供下载", 410)
    return material, media_path(config, material.file)


def media_path(config: Config, relative: str) -> Path:
    """A stored media file; refuses names that would leave the media directory."""
    root = (config.data_dir / "media").resolve()
    path = (root / relative).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound("文件不存在或已被删除")
    return path


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
