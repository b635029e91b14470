"""Study progress of a whole batch: per learner what is credited and what is short.

The rule is the learning area's (``learning.service.batch_progress``): a course counts
only when every video is complete; a study day is a day with credited time. Here it is
computed for every learner of a batch in a few grouped queries instead of per learner.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

from sqlalchemy import and_, case, column, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.learning.models import Batch, Course, CourseKind, Enrolment, StudyDay, Video, VideoProgress
from app.lib import crypto


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
    # Complete courses per learner, summed in SQL: the batch's few videos and courses are
    # spelled out as CASE expressions, so SQLite reads the progress rows once (by the
    # video index), groups them, and hands back one row per learner.
    info = {c.id: c for c in courses}
    course_of = dict(
        (
            await session.execute(
                select(Video.id, Video.course_id).where(Video.course_id.in_(list(info)))
            )
        ).all()
    )
    if course_of:
        videos_in = Counter(course_of.values())
        user_id, video_id, completed_at = (
            column("user_id"),
            column("video_id"),
            column("completed_at"),
        )
        course = case(*((video_id == vid, cid) for vid, cid in course_of.items())).label(
            "course_id"
        )
        # SQLite's planner, without statistics, reads the rows through the plain video
        # index; the partial index of completions answers from the index alone, several
        # times faster. (PostgreSQL picks it by itself.)
        source = (
            text("video_progress INDEXED BY ix_video_progress_completed")
            if session.get_bind().dialect.name == "sqlite"
            else VideoProgress.__table__
        )
        done = (
            select(user_id.label("user_id"), course, func.count().label("n"))
            .select_from(source)
            .where(video_id.in_(list(course_of)), completed_at.is_not(None))
            .group_by(user_id, course)
            .subquery()
        )

        def total(pick) -> object:
            whens = [
                (and_(done.c.course_id == cid, done.c.n == videos_in[cid]), value)
                for cid, c in info.items()
                if cid in videos_in and (value := pick(c))
            ]
            return func.sum(case(*whens, else_=0)) if whens else literal(0)

        totals = await session.execute(
            select(
                done.c.user_id,
                total(lambda c: c.minutes),
                total(lambda c: c.minutes if c.kind == CourseKind.PUBLIC else 0),
                total(lambda c: 1 if c.required else 0),
            ).group_by(done.c.user_id)
        )
        for uid, credited, public, required in totals:
            row = rows.get(uid)
            if row is not None:
                row.credited, row.public, row.required_done = (
                    int(credited),
                    int(public),
                    int(required),
                )
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


# ---------------------------------------------------------------------------- snapshots
#
# Counting every learner's complete courses reads every progress row of the batch
# (hundreds of thousands for a batch of ten thousand): too much for each view of a page.
# The counts are therefore kept in Redis as a snapshot, shared by every server process,
# and recomputed when older than SNAPSHOT_SECONDS (or when the admin asks). The page says
# when the snapshot was taken.

SNAPSHOT_SECONDS = 60
SNAPSHOT_TTL = 3600


@dataclasses.dataclass
class Snapshot:
    """Every learner's progress in a batch at one moment, and the default view's counts."""

    taken_at: float
    required: int  # how many 必修 courses the batch has
    summary: Summary
    short: list[int]  # user ids of learners short of something, in user order
    rows: dict[int, LearnerProgress] | None = None  # loaded only when a view needs them


def _keys(batch_id: int) -> tuple[str, str]:
    return f"report:progress:{batch_id}:meta", f"report:progress:{batch_id}:rows"


def _row_text(row: LearnerProgress) -> str:
    # The ID number is sealed: Redis is written to disk (data at rest, app/lib/crypto.py).
    return json.dumps(
        [
            row.name,
            crypto.seal(row.id_number),
            row.work_unit,
            row.credited,
            row.public,
            row.days,
            row.required_done,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _row(user_id: int, text: str) -> LearnerProgress:
    name, sealed, *rest = json.loads(text)
    return LearnerProgress(user_id, name, crypto.reveal(sealed), *rest)


async def snapshot(
    *, session: AsyncSession, redis, batch: Batch, now: float, refresh: bool = False
) -> Snapshot:
    """The batch's progress snapshot, taken again when missing, stale or asked for."""
    meta_key, rows_key = _keys(batch.id)
    raw = None if refresh else await redis.get(meta_key)
    if raw is not None:
        meta = json.loads(raw)
        fresh = now - meta["taken_at"] < SNAPSHOT_SECONDS
        if fresh and meta.get("rules") == _rules(batch):
            return Snapshot(
                taken_at=meta["taken_at"],
                required=meta["required"],
                summary=Summary(
                    **{
                        **meta["summary"],
                        "histogram": [tuple(p) for p in meta["summary"]["histogram"]],
                    }
                ),
                short=meta["short"],
            )
    rows, courses = await learner_progress(session=session, batch=batch)
    required = sum(c.required for c in courses)
    summary = summarise(rows, batch, required)
    short = [r.user_id for r in rows if r.short(batch, required)]
    meta = {
        "taken_at": now,
        "required": required,
        "rules": _rules(batch),
        "summary": dataclasses.asdict(summary),
        "short": short,
    }
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(rows_key)
        for start in range(0, len(rows), 2000):
            pipe.hset(
                rows_key, mapping={r.user_id: _row_text(r) for r in rows[start : start + 2000]}
            )
        pipe.expire(rows_key, SNAPSHOT_TTL)
        pipe.set(meta_key, json.dumps(meta, ensure_ascii=False), ex=SNAPSHOT_TTL)
        await pipe.execute()
    return Snapshot(now, required, summary, short, {r.user_id: r for r in rows})


def _rules(batch: Batch) -> list[int]:
    # A snapshot taken under other requirements is not reused.
    return [batch.required_minutes, batch.required_public_minutes, batch.min_study_days]


async def rows_of(redis, batch_id: int, user_ids: list[int]) -> list[LearnerProgress]:
    """Some learners' rows of the snapshot."""
    if not user_ids:
        return []
    texts = await redis.hmget(_keys(batch_id)[1], user_ids)
    return [_row(uid, text) for uid, text in zip(user_ids, texts, strict=True) if text]


async def all_rows(redis, batch_id: int) -> list[LearnerProgress]:
    """Every learner's row of the snapshot, in user order."""
    found = await redis.hgetall(_keys(batch_id)[1])
    return sorted((_row(int(uid), text) for uid, text in found.items()), key=lambda r: r.user_id)
