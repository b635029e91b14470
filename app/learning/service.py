"""Courses, materials and progress: what a learner sees on 我的课程 and the video page
(credit is written by app/learning/credit.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import shanghai_text
from app.config import Config
from app.errors import AppError, NotFound
from app.learning import segments
from app.learning.models import (
    AttentionExemption,
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
                AttentionExemption.user_id,
            )
            .join(Course, Course.id == Video.course_id)
            .join(Batch, Batch.id == Course.batch_id)
            .outerjoin(Enrolment, (Enrolment.batch_id == Batch.id) & (Enrolment.user_id == user_id))
            .outerjoin(AttentionExemption, AttentionExemption.user_id == Enrolment.user_id)
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
    checks, low, high, exempt = row[8:]
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
        # An exempt learner (app/learning/exemptions.py) is never asked.
        attention_checks=bool(checks) and exempt is None,
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
