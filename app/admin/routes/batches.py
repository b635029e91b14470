"""批次管理: batches, their exam policy, enrolments and study materials."""

from __future__ import annotations

from quart import redirect, request, url_for

from app.admin.routes.common import actor, admin_page, bp, render, with_form_errors
from app.errors import AppError, Invalid
from app.exams import banks, policies
from app.learning import batches, catalog
from app.learning import materials as batch_materials
from app.lib.forms import Form
from app.services import services

DONE = {
    "created": "批次已建立。下一步：设置考试规则、添加课程、报名学员。",
    "saved": "批次设置已保存。",
    "policy": "考试规则已保存。",
    "closed": "批次已结束：停止计学时和考试，不再接受报名。",
    "reopened": "批次已重新开放，请设置新的学习截止和考试时间。",
    "material": "导学资料已删除。",
    "material_saved": "导学资料已保存。",
    "unchanged": "没有修改任何内容。",
}
POLICY_DEFAULTS = {
    "single_count": 40,
    "single_points": 1.5,
    "multiple_count": 10,
    "multiple_points": 2.0,
    "judge_count": 20,
    "judge_points": 1.0,
    "duration_minutes": 120,
    "pass_mark": 60.0,
    "max_attempts": 3,
    "multiple_all_or_nothing": True,
    "shuffle_options": True,
    "disconnect_policy": "resume",
    "second_device": "takeover",
    "focus_warn_at": 0,
    "focus_submit_at": 0,
    "void_uses_attempt": True,
}


def batch_input(data) -> batches.BatchInput:
    """The batch form, typed; Invalid with a message per field when it cannot be read."""
    form = Form(data)
    values = batches.BatchInput(
        name=form.text("name", "批次名称", max_len=100),
        required_minutes=form.integer("required_minutes", "应学总时长", low=1, high=20000),
        required_public_minutes=form.integer(
            "required_public_minutes", "公共课应学时长", low=0, high=20000
        ),
        min_study_days=form.integer("min_study_days", "最少学习天数", low=0, high=365),
        study_deadline=form.when("study_deadline", "学习截止时间"),
        exam_opens_at=form.when("exam_opens_at", "考试开始时间"),
        exam_closes_at=form.when("exam_closes_at", "考试结束时间"),
        attention_checks=form.flag("attention_checks"),
        attention_min_minutes=form.integer(
            "attention_min_minutes", "防挂机最短间隔", low=1, high=120
        ),
        attention_max_minutes=form.integer(
            "attention_max_minutes", "防挂机最长间隔", low=1, high=120
        ),
    )
    form.check()
    return values


def policy_input(data) -> tuple[int, dict]:
    """The policy form, typed: the bank and the policy's fields."""
    form = Form(data)
    bank_id = form.integer("bank_id", "题库", low=1, high=2**31 - 1)
    if not form.raw("bank_id"):
        form.errors["bank_id"] = "请选择题库"
    fields = {
        "single_count": form.integer("single_count", "单选题数", low=0, high=500),
        "single_points": form.number("single_points", "单选题分值", low=0.1, high=100),
        "multiple_count": form.integer("multiple_count", "多选题数", low=0, high=500),
        "multiple_points": form.number("multiple_points", "多选题分值", low=0.1, high=100),
        "judge_count": form.integer("judge_count", "判断题数", low=0, high=500),
        "judge_points": form.number("judge_points", "判断题分值", low=0.1, high=100),
        "duration_minutes": form.integer("duration_minutes", "考试时长", low=1, high=600),
        "pass_mark": form.number("pass_mark", "合格分数", low=0.1, high=10000),
        "max_attempts": form.integer("max_attempts", "考试次数", low=1, high=10),
        "multiple_all_or_nothing": form.flag("multiple_all_or_nothing"),
        "shuffle_options": form.flag("shuffle_options"),
        "disconnect_policy": form.choice("disconnect_policy", "断线规则", {"resume", "forfeit"}),
        "second_device": form.choice("second_device", "多设备规则", {"takeover", "refuse"}),
        "focus_warn_at": form.integer("focus_warn_at", "离开页面提醒次数", low=0, high=100),
        "focus_submit_at": form.integer("focus_submit_at", "离开页面自动交卷次数", low=0, high=100),
        "void_uses_attempt": form.flag("void_uses_attempt"),
    }
    warn, submit = fields["focus_warn_at"], fields["focus_submit_at"]
    if warn and submit and warn >= submit:
        form.fail("focus_submit_at", "自动交卷次数应大于提醒次数（0 表示不启用）")
    form.check()
    return bank_id, fields


@bp.get("/batches", endpoint="batches")
@admin_page
async def batches_list():
    """Every batch: requirements, dates, learners, courses, whether it has an exam policy."""
    async with services().db.read() as db:
        rows = await batches.get_all(session=db)
        with_policy = await policies.batches_with_policy(session=db)
    return await render(
        "admin/batches.html", rows=rows, with_policy=with_policy, now=services().now()
    )


async def _new_page(errors=None, form=None):
    defaults = {
        "required_minutes": 1920,
        "required_public_minutes": 960,
        "min_study_days": 10,
        "attention_checks": "1",
        "attention_min_minutes": 10,
        "attention_max_minutes": 20,
    }
    return await render(
        "admin/batch_new.html",
        errors=errors or {},
        form=form if form is not None else defaults,
        tiers=batches.TIERS,
    )


@bp.get("/batches/new")
@admin_page
async def batch_new():
    """The new batch form, with the 16/32/48 学时 presets."""
    return await _new_page()


@bp.post("/batches/new")
@admin_page
@with_form_errors(lambda errors, form: _new_page(errors, form))
async def batch_create():
    """Create a batch; every bad field is refused with its message and nothing is saved."""
    svc = services()
    values = batch_input(await request.form)
    async with svc.db.write() as db:
        batch = await batches.create(session=db, now=svc.now(), actor=actor(), values=values)
    return redirect(url_for("admin.batch", batch_id=batch.id, done="created"))


async def _batch_page(batch_id: int, *, errors=None, form=None, which: str = "", report=None):
    svc = services()
    async with svc.db.read() as db:
        batch = await batches.get(session=db, batch_id=batch_id)
        policy = await policies.get_policy(session=db, batch_id=batch_id)
        bank_rows = await banks.get_all(session=db)
        courses = await catalog.get_all(session=db, batch_id=batch_id)
        materials = await batch_materials.materials_of(session=db, batch_id=batch_id)
        running = await policies.open_attempts(session=db, batch_id=batch_id)
        learners = next(
            (r.learners for r in await batches.get_all(session=db) if r.batch.id == batch_id), 0
        )
        problems = await policies.paper_problems(session=db, policy=policy) if policy else []
    settings = {name: getattr(batch, name) for name in batches.LABELS}
    policy_values = (
        {n: getattr(policy, n) for n in policies.POLICY_LABELS} if policy else dict(POLICY_DEFAULTS)
    )
    return await render(
        "admin/batch.html",
        batch=batch,
        policy=policy,
        problems=problems,
        bank_rows=bank_rows,
        courses=courses,
        materials=materials,
        running=running,
        learners=learners,
        settings=settings,
        policy_values=policy_values,
        errors=errors or {},
        form=form,
        which=which,
        report=report,
        tiers=batches.TIERS,
        material_kinds=batch_materials.MATERIAL_KINDS,
        done=DONE.get(request.args.get("done", "")),
        now=svc.now(),
    )


@bp.get("/batches/<int:batch_id>")
@admin_page
async def batch(batch_id: int):
    """One batch: settings, exam policy, courses, enrolment and materials."""
    return await _batch_page(batch_id)


def _form_page(which: str):
    return lambda batch_id, errors, form: _batch_page(
        batch_id, errors=errors, form=form, which=which
    )


@bp.post("/batches/<int:batch_id>")
@admin_page
@with_form_errors(_form_page("settings"))
async def batch_update(batch_id: int):
    """Save a batch's settings."""
    svc = services()
    values = batch_input(await request.form)
    async with svc.db.write() as db:
        batch = await batches.get(session=db, batch_id=batch_id)
        changes = await batches.update(
            session=db, now=svc.now(), actor=actor(), batch=batch, values=values
        )
    return redirect(
        url_for("admin.batch", batch_id=batch_id, done="saved" if changes else "unchanged")
    )


@bp.post("/batches/<int:batch_id>/policy")
@admin_page
@with_form_errors(_form_page("policy"))
async def batch_policy(batch_id: int):
    """Save the batch's exam policy; a policy the bank cannot fill is refused."""
    svc = services()
    bank_id, fields = policy_input(await request.form)
    async with svc.db.write() as db:
        await batches.get(session=db, batch_id=batch_id)
        await banks.get(session=db, bank_id=bank_id)
        await policies.change_policy(
            session=db,
            now=svc.now(),
            actor=actor(),
            batch_id=batch_id,
            bank_id=bank_id,
            fields=fields,
        )
    return redirect(url_for("admin.batch", batch_id=batch_id, done="policy") + "#policy")


@bp.post("/batches/<int:batch_id>/enrol")
@admin_page
@with_form_errors(_form_page("enrol"))
async def batch_enrol(batch_id: int):
    """Enrol the listed ID numbers; show what happened to each line."""
    svc = services()
    text = (await request.form).get("id_numbers", "")
    try:
        async with svc.db.write() as db:
            batch = await batches.get(session=db, batch_id=batch_id)
            report = await batches.enrol_many(
                session=db, now=svc.now(), actor=actor(), batch=batch, text=text
            )
    except AppError as error:
        if isinstance(error, Invalid):
            raise
        raise Invalid({"id_numbers": error.message}) from None
    return await _batch_page(batch_id, which="enrol", report=report)


@bp.post("/batches/<int:batch_id>/close")
@admin_page
async def batch_close(batch_id: int):
    """End a batch now (not while papers are being answered)."""
    svc = services()
    try:
        async with svc.db.write() as db:
            batch = await batches.get(session=db, batch_id=batch_id)
            running = await policies.open_attempts(session=db, batch_id=batch_id)
            await batches.close(
                session=db, now=svc.now(), actor=actor(), batch=batch, open_attempts=running
            )
    except AppError as error:
        if error.status == 404:
            raise
        return await _batch_page(batch_id, errors={"close": error.message}, which="close"), 400
    return redirect(url_for("admin.batch", batch_id=batch_id, done="closed"))


@bp.post("/batches/<int:batch_id>/reopen")
@admin_page
async def batch_reopen(batch_id: int):
    """Open a closed batch again."""
    svc = services()
    async with svc.db.write() as db:
        batch = await batches.get(session=db, batch_id=batch_id)
        await batches.reopen(session=db, now=svc.now(), actor=actor(), batch=batch)
    return redirect(url_for("admin.batch", batch_id=batch_id, done="reopened"))
