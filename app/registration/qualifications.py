"""资格信息: qualification records imported from Excel, and proving one is yours."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import documents
from app.audit import service as audit
from app.errors import AppError
from app.lib import spreadsheet, workbook
from app.lib.paging import Page
from app.registration.models import Qualification

CATEGORIES = (
    "煤矿安全",
    "金属非金属矿山安全",
    "化工安全",
    "金属冶炼安全",
    "建筑施工安全",
    "道路运输安全",
    "其他安全（不含消防安全）",
)
LEVELS = ("初级", "中级", "高级")
FIELDS = ("name", "id_type", "id_number", "certificate_no", "level", "category", "qualified_on")
HEADERS = {
    "name": "姓名",
    "id_type": "证件类型",
    "id_number": "证件号码",
    "certificate_no": "资格证书编号",
    "level": "级别",
    "category": "专业类别",
    "qualified_on": "取得资格日期",
}
ALIASES = {
    "name": {"姓名"},
    "id_type": {"证件类型"},
    "id_number": {"证件号码", "证件号", "身份证号", "身份证号码"},
    "certificate_no": {"资格证书编号", "证书编号", "资格证书号", "管理号"},
    "level": {"级别", "资格级别"},
    "category": {"专业类别", "专业", "类别"},
    "qualified_on": {"取得资格日期", "取得资格时间", "批准日期", "资格取得日期"},
}
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
MAX_COLUMNS = 30
BAD_FILE = "无法读取该文件：请上传 Excel 2007 及以上版本的 .xlsx 文件"
CERTIFICATE_SHAPE = re.compile(r"^[0-9A-Z\-]{6,40}$")


LIMITS = spreadsheet.Limits(max_bytes=MAX_BYTES, max_rows=MAX_ROWS, max_columns=MAX_COLUMNS)


def read_rows(data: bytes, *, file_name: str = "") -> list[spreadsheet.Row]:
    """The sheet's non-empty rows as text (the shared reader: bombs and bounds refused)."""
    return spreadsheet.read_rows(data, file_name=file_name, formats=("xlsx",), limits=LIMITS)


def parse_date(raw: str) -> dt.date | None:
    """2024-05-10, 2024/5/10, 2024.5.10, 20240510 or 2024年5月10日; None otherwise."""
    text = (raw or "").strip()
    match = re.match(r"^(\d{4})\D{1,2}(\d{1,2})\D{1,2}(\d{1,2})日?$", text) or re.match(
        r"^(\d{4})(\d{2})(\d{2})$", text
    )
    if not match:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def _header_key(text: str) -> str | None:
    text = re.sub(r"[（(][^）)]*[）)]", "", text).replace(" ", "").replace("*", "")
    return next((f for f, names in ALIASES.items() if text in names), None)


@dataclasses.dataclass
class RowError:
    row: int
    reason: str
    values: dict[str, str]


@dataclasses.dataclass
class ImportReport:
    """What an import did: counts and the refused rows with reasons."""

    file_name: str = ""
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    errors: list[RowError] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        return (
            f"导入文件《{self.file_name}》：共 {self.rows} 行，新增 {self.created} 条，"
            f"已存在 {self.unchanged} 条，错误 {len(self.errors)} 行"
        )


def _columns(rows: list[spreadsheet.Row]) -> tuple[int, dict[str, int]]:
    """Where the header is among the rows, and each field's column."""
    found = spreadsheet.find_header(rows, ALIASES, anchor=("certificate_no",))
    if found is None:
        raise AppError(
            "import_header",
            f"找不到表头：第一个工作表的表头须包含 {'、'.join(HEADERS.values())}",
        )
    position, fields = found
    missing = [HEADERS[f] for f in FIELDS if f not in fields]
    if missing:
        raise AppError(
            "import_header",
            f"表头缺少列：{'、'.join(missing)}。表头须包含 {'、'.join(HEADERS.values())}",
        )
    return position, {f: fields.index(f) for f in FIELDS}


def check_row(values: dict[str, str], *, today: dt.date) -> tuple[dict[str, object], list[str]]:
    """A row's cleaned values and the reasons it is refused (none when it is good)."""
    reasons: list[str] = []
    clean: dict[str, object] = {}
    name = values["name"]
    if not name or len(name) > 50:
        reasons.append("姓名为空或超过50个字符")
    clean["name"] = name
    try:
        document = documents.parse(values["id_type"], values["id_number"], today=today)
        clean["id_type"], clean["id_number"] = document.type, document.value
    except AppError as error:
        reasons.append(error.message)
    number = values["certificate_no"].upper().replace(" ", "")
    if not CERTIFICATE_SHAPE.match(number):
        reasons.append("资格证书编号为空或格式不正确（6至40位数字、字母或“-”）")
    clean["certificate_no"] = number
    if values["level"] not in LEVELS:
        reasons.append(f"级别须为{'、'.join(LEVELS)}之一")
    clean["level"] = values["level"]
    category = values["category"].replace("(", "（").replace(")", "）")
    if category not in CATEGORIES:
        reasons.append(f"专业类别“{values['category']}”不在规定的七个类别中")
    clean["category"] = category
    day = parse_date(values["qualified_on"])
    if day is None:
        reasons.append("取得资格日期无法识别，请填写如 2024-05-10 的日期")
    elif day > today:
        reasons.append("取得资格日期不能晚于今天")
    clean["qualified_on"] = day
    return clean, reasons


async def import_rows(
    *,
    session: AsyncSession,
    rows: list[spreadsheet.Row],
    file_name: str,
    now: dt.datetime,
    actor_id: int | None,
    ip: str = "",
) -> ImportReport:
    """Check every row and add the good ones; a certificate number already on file with the
    same data is counted, with different data refused."""
    header, index = _columns(rows)
    report = ImportReport(file_name=file_name)
    seen: dict[str, int] = {}
    for row in rows[header + 1 :]:
        number = row.number
        values = {f: " ".join(row.get(i).replace("\u3000", " ").split()) for f, i in index.items()}
        if not any(values.values()):
            continue
        report.rows += 1
        clean, reasons = check_row(values, today=now.date())
        certificate_no = str(clean["certificate_no"])
        if certificate_no in seen:
            reasons.append(f"资格证书编号与第{seen[certificate_no]}行重复")
        seen.setdefault(certificate_no, number)
        existing = None
        if not reasons:
            existing = await session.scalar(
                select(Qualification).where(Qualification.certificate_no == certificate_no)
            )
            if existing is not None:
                same = all(getattr(existing, f) == clean[f] for f in FIELDS)
                if same:
                    report.unchanged += 1
                    continue
                reasons.append("该资格证书编号已在库中，但姓名、证件或其他信息与表中不一致")
        if reasons:
            report.errors.append(RowError(number, "；".join(reasons), values))
            continue
        session.add(Qualification(**clean, imported_at=now))
        report.created += 1
    if report.rows == 0:
        raise AppError("import_empty", "文件中除表头外没有资格信息")
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="registration.qualifications_import",
        detail=report.summary(),
        ip=ip,
    )
    return report


def template_rules() -> list[list[str]]:
    """The second sheet of the template: what each column takes."""
    return [
        ["列", "填写要求"],
        ["示例", "第2行是示例（虚构的人），导入前请删除或改写。"],
        ["姓名", "必填，不超过 50 个字符。"],
        ["证件类型", f"{'、'.join(documents.LABELS.values())}之一，留空按居民身份证。"],
        [
            "证件号码",
            "必填，须符合证件类型的格式（身份证 18 位并通过校验）；请保持该列为“文本”格式。",
        ],
        ["资格证书编号", "必填，6 至 40 位数字、字母或“-”，不可重复；请保持该列为“文本”格式。"],
        ["级别", f"{'、'.join(LEVELS)}之一。"],
        ["专业类别", "以下七类之一：" + "、".join(CATEGORIES) + "。"],
        ["取得资格日期", "如 2024-05-10，不能晚于今天。"],
        [
            "文件",
            f"Excel（.xlsx），不超过 {MAX_BYTES // 1024 // 1024} MB、{MAX_ROWS} 行；只读第一个工作表。",
        ],
        ["错误", "有错误的行不导入，其余照常导入；证书编号已在库中且信息相同的行计为“未变化”。"],
    ]


def template_workbook() -> bytes:
    """The qualification list's header with one example row, and the rules sheet."""
    example = (
        "张安全",
        "居民身份证",
        "120102199003074512",
        "0123456789",
        "中级",
        "化工安全",
        "2024-05-10",
    )
    return workbook.xlsx_bytes(
        [
            workbook.Sheet(
                title="资格信息",
                header=list(HEADERS.values()),
                rows=[example],
                widths=(12, 22, 24, 18, 8, 26, 14),
                text_columns=(2, 3),
            ),
            workbook.Sheet(title="填写说明", rows=template_rules(), widths=(14, 100)),
        ]
    )


async def search(
    *, session: AsyncSession, query: str = "", page: int = 1, per_page: int = 30
) -> Page[Qualification]:
    """Qualification records by name, document or certificate number, newest first."""
    conditions = []
    query = (query or "").strip()
    if query:
        conditions.append(
            or_(
                Qualification.name.contains(query, autoescape=True),
                Qualification.id_number == query.upper(),
                Qualification.certificate_no == query.upper(),
            )
        )
    total = await session.scalar(select(func.count(Qualification.id)).where(*conditions))
    result = Page.of(page, per_page, total or 0)
    result.items = list(
        await session.scalars(
            select(Qualification)
            .where(*conditions)
            .order_by(Qualification.id.desc())
            .offset(result.offset)
            .limit(per_page)
        )
    )
    return result


MISMATCH = "资格信息验证未通过：姓名、证件号码与资格证书编号须与考试合格记录一致，请核对后重新输入"


async def match(
    *, session: AsyncSession, name: str, id_type: str, number: str, certificate_no: str
) -> Qualification:
    """The record matching all three (name, document, certificate number) or AppError."""
    name = " ".join((name or "").split())
    certificate_no = (certificate_no or "").strip().upper().replace(" ", "")
    if not name:
        raise AppError("qualification_name", "请输入姓名")
    if not certificate_no:
        raise AppError("qualification_number", "请输入资格证书编号")
    record = await session.scalar(
        select(Qualification).where(Qualification.certificate_no == certificate_no)
    )
    if (
        record is None
        or record.name != name
        or record.id_type != id_type
        or record.id_number != number
    ):
        raise AppError("qualification_mismatch", MISMATCH)
    return record


async def of_user(*, session: AsyncSession, user_id: int) -> list[Qualification]:
    """The records a person has proved are theirs, oldest first."""
    return list(
        await session.scalars(
            select(Qualification)
            .where(Qualification.user_id == user_id)
            .order_by(Qualification.qualified_on, Qualification.id)
        )
    )


async def link(
    *, session: AsyncSession, record: Qualification, user_id: int, id_type: str, number: str
) -> None:
    """Tie a verified record to the account; a record already tied to another is refused.
    Every other record with the same document is tied too (a second specialty)."""
    if record.user_id not in (None, user_id):
        raise AppError("qualification_taken", "该资格证书已由其他账号验证，请联系注册机构核实", 409)
    others = await session.scalars(
        select(Qualification).where(
            Qualification.id_type == id_type,
            Qualification.id_number == number,
            Qualification.user_id.is_(None),
        )
    )
    for other in [record, *others]:
        other.user_id = user_id
    await session.flush()
