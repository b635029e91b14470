"""What every administration page shares: the blueprint, the side menu, rendering, the
acting admin, form errors and file responses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import quote

from quart import Blueprint, Response, current_app, render_template, request, url_for

from app.accounts import auth
from app.accounts.models import ROLE_LABELS
from app.audit import service as audit
from app.errors import Invalid
from app.lib.forms import local_input
from app.services import services

bp = Blueprint("admin", __name__, url_prefix="/admin")

# The admin side menu: (label, endpoint, what it is for). An entry shows once its
# endpoint exists, so other areas add their admin pages here with one line.
SECTIONS = [
    ("概览", "admin.index", ""),
    (
        "批次管理",
        "admin.batches",
        "建立培训批次：学时要求、学习天数、截止时间、考试时间和考试规则；报名学员、导学资料。",
    ),
    (
        "课程管理",
        "admin.courses",
        "课程、主讲人、公共课/专业课、必修、下架与重新上架；上传视频；在多个批次复用课程。",
    ),
    (
        "题库管理",
        "admin.banks",
        "导入试题（Excel/CSV），按题型和章节浏览、预览、修改、停用；每题的正确率。",
    ),
    (
        "学员管理",
        "admin.learners",
        "按身份证号、姓名、工作单位查找学员；学员档案；重置照片、手机号、初始密码，解锁账号，转批次。",
    ),
    ("导入学员", "admin.import_form", "从 Excel 名单批量建立账号并报名批次，逐行报告错误原因。"),
    (
        "统计报表",
        "admin.reports",
        "学习进度、考试成绩、试题难度，图表展示，导出 Excel 和合格人员名册。",
    ),
    ("证书管理", "certificates.admin_list", "证书生成失败重试与撤销。"),
    (
        "操作日志",
        "admin.audit_log",
        "每一次管理操作：时间、操作人、对象、修改前后的值和 IP；可导出。",
    ),
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def render(template: str, **context):
    """An admin page with the side menu."""
    endpoints = current_app.view_functions
    sections = [(label, url_for(ep), about) for label, ep, about in SECTIONS if ep in endpoints]
    return await render_template(
        template, sections=sections, role_labels=ROLE_LABELS, local_input=local_input, **context
    )


def int_arg(name: str, default: int | None = None) -> int | None:
    """An integer query parameter, or the default when absent or not a number."""
    try:
        return int(request.args.get(name, ""))
    except ValueError:
        return default


def actor() -> audit.Actor:
    """The admin making this request, and from where."""
    return audit.Actor(auth.current_user().id, auth.client_ip(services().config.trust_proxy))


def download(body, filename: str, fallback: str, mimetype: str = XLSX) -> Response:
    """A file to save, with its Chinese name (RFC 5987) and an ASCII name for old clients."""
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def admin_page(view: Callable) -> Callable:
    """Admins only."""
    return auth.require_role("admin")(view)


def with_form_errors(page: Callable) -> Callable:
    """Render a refused form again with each message next to its field (status 400)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        async def wrapper(*args, **kwargs):
            try:
                return await view(*args, **kwargs)
            except Invalid as error:
                form = dict((await request.form).items())
                body = await page(*args, errors=error.fields, form=form, **kwargs)
                return body, 400

        return wrapper

    return decorator
