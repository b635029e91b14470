"""A course's videos for administrators: add, replace (keeping credit when the length is the
same), retitle, reorder, delete. Files are never overwritten (see app/learning/catalog.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import AppError, Invalid, NotFound
from app.learning import segments
from app.learning.catalog import SAME_DURATION_MS, record, unused_files
from app.learning.models import (
    Course,
    Video,
    VideoProgress,
)
from app.learning.videos import StoredMedia


async def videos_of(*, session: AsyncSession, course_id: int) -> list[Video]:
    return list(
        await session.scalars(
            select(Video).where(Video.course_id == course_id).order_by(Video.position, Video.id)
        )
    )


async def get_video(*, session: AsyncSession, video_id: int) -> Video:
    video = await session.get(Video, video_id)
    if video is None:
        raise NotFound("视频不存在")
    return video


async def add_video(
    *,
    session: AsyncSession,
    now: dt.datetime,
    actor,
    course: Course,
    title: str,
    media: StoredMedia,
) -> Video:
    """A new video at the end of a course."""
    last = await session.scalar(
        select(func.max(Video.position)).where(Video.course_id == course.id)
    )
    video = Video(
        course_id=course.id,
        title=title[:200] or "第1讲",
        position=(last or 0) + 1,
        duration_ms=media.duration_ms,
        file=media.file,
        mimetype=media.mimetype,
        poster=media.poster,
        size_bytes=media.size_bytes,
        created_at=now,
    )
    session.add(video)
    await session.flush()
    await record(
        session,
        now,
        actor,
        "video.add",
        f"课程《{course.name}》上传视频《{video.title}》（{media.duration_ms // 60000} 分 {media.duration_ms // 1000 % 60} 秒）",
    )
    return video


@dataclasses.dataclass
class Replacement:
    """What replacing a video's file does to the learners' progress."""

    same_duration: bool
    old_ms: int
    new_ms: int
    completed: int  # learners who finished the video
    partial: int  # learners part-way through it

    @property
    def message(self) -> str:
        if self.same_duration:
            return "新视频与原视频时长相同，学员已观看的进度全部保留。"
        old, new = _mmss(self.old_ms), _mmss(self.new_ms)
        return (
            f"新视频时长 {new} 与原视频 {old} 不同：已看完该视频的 {self.completed} 名学员保持“已完成”；"
            f"看了一部分的 {self.partial} 名学员，该视频的观看进度将清零，需重新观看"
            "（已计入的学习天数不受影响）。"
        )


def _mmss(ms: int) -> str:
    return f"{ms // 60000}:{ms // 1000 % 60:02d}"


async def replacement(*, session: AsyncSession, video: Video, new_ms: int) -> Replacement:
    """What replacing this video with one of ``new_ms`` would do."""
    rows = await session.execute(
        select(VideoProgress.completed_at.is_not(None), func.count())
        .where(VideoProgress.video_id == video.id, VideoProgress.watched_ms > 0)
        .group_by(VideoProgress.completed_at.is_not(None))
    )
    counts = {bool(done): n for done, n in rows}
    return Replacement(
        same_duration=abs(new_ms - video.duration_ms) <= SAME_DURATION_MS,
        old_ms=video.duration_ms,
        new_ms=new_ms,
        completed=counts.get(True, 0),
        partial=counts.get(False, 0),
    )


async def replace_video(
    *, session: AsyncSession, now: dt.datetime, actor, video: Video, media: StoredMedia
) -> tuple[Replacement, list[str]]:
    """Swap a video's file; returns what it did and the files no longer used."""
    plan = await replacement(session=session, video=video, new_ms=media.duration_ms)
    if plan.same_duration:
        # Same lecture, re-encoded: keep every segment, trimmed to the new end.
        for progress in await session.scalars(
            select(VideoProgress).where(VideoProgress.video_id == video.id)
        ):
            kept = [
                [a, min(b, media.duration_ms)]
                for a, b in segments.parse(progress.segments)
                if a < media.duration_ms
            ]
            progress.segments = segments.dump(kept)
            progress.watched_ms = segments.covered_ms(kept)
    else:
        await session.execute(
            update(VideoProgress)
            .where(VideoProgress.video_id == video.id, VideoProgress.completed_at.is_not(None))
            .values(
                segments=segments.dump([[0, media.duration_ms]]),
                watched_ms=media.duration_ms,
                last_position_ms=0,
            )
        )
        await session.execute(
            update(VideoProgress)
            .where(VideoProgress.video_id == video.id, VideoProgress.completed_at.is_(None))
            .values(segments="[]", watched_ms=0, last_position_ms=0)
        )
    old = [f for f in (video.file, video.poster) if f]
    video.file, video.mimetype, video.poster = media.file, media.mimetype, media.poster
    video.duration_ms, video.size_bytes = media.duration_ms, media.size_bytes
    await session.flush()
    await record(
        session,
        now,
        actor,
        "video.replace",
        f"替换视频《{video.title}》：{plan.message}",
        {"时长": (_mmss(plan.old_ms), _mmss(plan.new_ms))},
    )
    return plan, await unused_files(session=session, files=old)


async def update_video(
    *, session: AsyncSession, now: dt.datetime, actor, video: Video, title: str
) -> None:
    """Rename a video."""
    title = " ".join(title.split())
    if not title or len(title) > 200:
        raise Invalid({"title": "视频标题不能为空且不超过 200 个字"})
    if title != video.title:
        changes = {"视频标题": (video.title, title)}
        video.title = title
        await session.flush()
        await record(session, now, actor, "video.update", f"修改视频标题《{title}》", changes)


async def move_video(
    *, session: AsyncSession, now: dt.datetime, actor, video: Video, up: bool
) -> None:
    """Swap a video with its neighbour in the course."""
    siblings = await videos_of(session=session, course_id=video.course_id)
    index = siblings.index(video)
    other = index - 1 if up else index + 1
    if 0 <= other < len(siblings):
        siblings[index], siblings[other] = siblings[other], siblings[index]
        for position, item in enumerate(siblings, 1):
            item.position = position
        await session.flush()


async def delete_video(
    *, session: AsyncSession, now: dt.datetime, actor, video: Video
) -> list[str]:
    """Delete a video nobody has watched; returns the files no longer used."""
    watchers = await session.scalar(
        select(func.count())
        .select_from(VideoProgress)
        .where(VideoProgress.video_id == video.id, VideoProgress.watched_ms > 0)
    )
    if watchers:
        raise AppError(
            "video_has_credit",
            f"已有 {watchers} 名学员观看过该视频，删除会改变他们的课程进度；可以“替换”视频文件，或下架整门课程",
        )
    files = [f for f in (video.file, video.poster) if f]
    await session.delete(video)
    await session.flush()
    await record(session, now, actor, "video.delete", f"删除视频《{video.title}》")
    return await unused_files(session=session, files=files)
