"""Input checks for the session form, with Chinese refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from app.clock import SHANGHAI
from app.errors import AppError, Invalid
from app.exams import sessions
from app.exams.attempts import MAX_EXTRA_MINUTES

MAX_MINUTES = MAX_EXTRA_MINUTES
# What the action dialogs offer; the invigilator may type any other reason.
PRESET_REASONS = {
    "extend": ("网络或电脑故障，耽误了作答时间", "考场统一安排延长"),
    "force": ("考试过程中有违纪行为", "考生要求提前交卷，但无法自行提交"),
    "void": ("冒名顶替，与登记照片不符", "考试过程中有作弊行为", "考生多次违反考场纪律"),
}
ID_SPLIT = re.compile(r"[\s,，;；、]+")


def parse_local_time(value: str | None, label: str) -> dt.datetime:
    """A form's datetime-local (Beijing time) as an aware UTC instant."""
    text = (value or "").strip()
    if not text:
        raise AppError("bad_session_time", f"请填写{label}")
    try:
        local = dt.datetime.fromisoformat(text)
    except ValueError:
        raise AppError("bad_session_time", f"{label}格式不正确，应为 年-月-日 时:分") from None
    if local.tzinfo is not None:
        return local.astimezone(dt.UTC)
    return local.replace(tzinfo=SHANGHAI).astimezone(dt.UTC)


@dataclasses.dataclass(frozen=True)
class SessionForm:
    batch_id: int
    name: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    id_numbers: list[str]

    @classmethod
    def parse(cls, form) -> SessionForm:
        """Every field checked, every problem told at once (Invalid, one message a field)."""
        problems: dict[str, str] = {}
        try:
            batch_id = int(form.get("batch_id", ""))
        except ValueError:
            batch_id = 0
            problems["batch_id"] = "请选择批次"
        times = {}
        for field, label in (("starts_at", "开始时间"), ("ends_at", "结束时间")):
            try:
                times[field] = parse_local_time(form.get(field), label)
            except AppError as error:
                problems[field] = error.message
        if problems:
            # The rest is checked by the service once the form reads; told here too, so
            # that every problem shows at once.
            try:
                sessions.check_name(form.get("name", ""))
            except AppError as error:
                problems["name"] = error.message
            raise Invalid(problems)
        return cls(
            batch_id=batch_id,
            name=form.get("name", ""),
            starts_at=times["starts_at"],
            ends_at=times["ends_at"],
            id_numbers=[n for n in ID_SPLIT.split(form.get("learners", "")) if n],
        )
