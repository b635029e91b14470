"""我的考试, the exam page and 考试记录."""

from __future__ import annotations

from quart import Blueprint, jsonify, render_template, request, url_for

from app.accounts import auth
from app.clock import epoch_ms
from app.exams import attempts, eligibility, grading, schemas
from app.exams import paper as papers
from app.exams import records as exam_records
from app.services import services

bp = Blueprint("exams", __name__)

COURSES_URL = "/courses"
LEARNER = "learner"


async def _close_expired(user_id: int) -> None:
    """Submit the learner's attempts whose time ran out before showing any exam page."""
    svc = services()
    async with svc.db.read(quick=True) as db:
        due = await attempts.expired_attempt_ids(session=db, user_id=user_id, now=svc.now())
    if due:
        async with svc.db.write() as db:
            await grading.close_expired_for(session=db, user_id=user_id, now=svc.now())


@bp.context_processor
def _exam_pages() -> dict[str, str]:
    # The one wording of the computer-only rule, for the guide and (as a data attribute)
    # for exam.js, which says it when it recognises a tablet the server could not.
    return {"computer_only": schemas.COMPUTER_ONLY}


@bp.get("/exams")
@auth.require_role(LEARNER)
async def index():
    """我的考试: requirements, progress, exam window, what is missing, the exam guide."""
    svc = services()
    user = auth.current_user()
    await _close_expired(user.id)
    async with svc.db.read(quick=True) as db:
        rows = await eligibility.my_exams(session=db, user_id=user.id, now=svc.now())
    return await render_template(
        "exams/index.html",
        rows=rows,
        now=svc.now(),
        fmt_points=papers.fmt_points,
        mobile=schemas.is_mobile(request.headers.get("User-Agent")),
    )


@bp.post("/api/exams/<int:batch_id>/start")
@auth.require_role(LEARNER)
async def start(batch_id: int):
    """Start (or resume) the learner's attempt and return the exam page address."""
    schemas.require_computer(request.headers.get("User-Agent"))
    svc = services()
    user = auth.current_user()
    # Drawing the paper only reads; the write lock is taken just to store the attempt. The
    # same read first looks for attempts whose time ran out (as _close_expired does), so
    # that the usual start, with none, costs one read transaction, not two.
    async with svc.db.read(quick=True) as db:
        due = await attempts.expired_attempt_ids(session=db, user_id=user.id, now=svc.now())
        plan = (
            None
            if due
            else await attempts.plan_attempt(
                session=db, user_id=user.id, batch_id=batch_id, now=svc.now()
            )
        )
    if plan is None:
        await _close_expired(user.id)
        async with svc.db.read(quick=True) as db:
            plan = await attempts.plan_attempt(
                session=db, user_id=user.id, batch_id=batch_id, now=svc.now()
            )
    async with svc.db.write() as db:
        attempt = await attempts.start_attempt(session=db, plan=plan, now=svc.now())
    return jsonify(
        {
            "ok": True,
            "attempt_id": attempt.id,
            "url": url_for("exams.attempt", attempt_id=attempt.id),
        }
    )


@bp.get("/exams/attempts/<int:attempt_id>")
@auth.require_role(LEARNER)
async def attempt(attempt_id: int):
    """The exam page: countdown, summary, navigator, questions; or the result once closed."""
    schemas.require_computer(request.headers.get("User-Agent"))
    svc = services()
    user = auth.current_user()
    await _close_expired(user.id)
    async with svc.db.read(quick=True) as db:
        row = await attempts.get_attempt(session=db, attempt_id=attempt_id, user_id=user.id)
        batch_name = await attempts.batch_name(session=db, batch_id=row.batch_id)
        rules = papers.Rules.from_json(row.rules)
        if row.is_open:
            sections = await attempts.paper_sections(session=db, attempt=row)
            answers = await attempts.answers_of(session=db, attempt_id=row.id)
            result = None
        else:
            sections, answers = [], {}
            result = await grading.result_of(session=db, attempt=row)
    return await render_template(
        "exams/attempt.html",
        attempt=row,
        batch_name=batch_name,
        rules=rules,
        sections=sections,
        answers={qid: value for qid, (value, _seq) in answers.items() if value},
        max_seq=max((seq for _, seq in answers.values()), default=0),
        result=result.to_dict() if result else None,
        now_ms=epoch_ms(svc.now()),
        deadline_ms=epoch_ms(row.deadline),
        courses_url=COURSES_URL,
    )


@bp.post("/api/exams/attempts/<int:attempt_id>/submit")
@auth.require_role(LEARNER)
async def submit(attempt_id: int):
    """Hand the paper in over HTTP (used when the live connection is down)."""
    svc = services()
    async with svc.db.write() as db:
        result = await grading.submit(
            session=db, attempt_id=attempt_id, user_id=auth.current_user().id, now=svc.now()
        )
    return jsonify({"ok": True, "result": result.to_dict()})


@bp.get("/exams/records")
@auth.require_role(LEARNER)
async def records():
    """考试记录: every attempt with start, end, score, result and how it ended."""
    svc = services()
    user = auth.current_user()
    await _close_expired(user.id)
    async with svc.db.read() as db:
        rows = await exam_records.records(session=db, user_id=user.id)
    return await render_template("exams/records.html", rows=rows, now=svc.now())
