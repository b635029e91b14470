import asyncio
import io
import subprocess
import sys

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.accounts import idcard
from app.accounts import service as accounts_service
from app.accounts.models import User
from app.admin import imports
from app.audit.models import AuditEntry
from app.config import ROOT
from app.errors import AppError
from app.learning.models import Enrolment
from app.lib import workbook
from app.lib.workbook import Sheet
from tests.admin.conftest import BATCH, HEADER, person_id, xlsx
from tests.factories import Factory
from tests.spreadsheets import HOSTILE
from workers.imports import run_import


async def run(svc, data, actor_id=None):
    return await run_import(svc, data, file_name="名单.xlsx", actor_id=actor_id)


async def user_by(svc, id_number):
    async with svc.db.read() as db:
        return await db.scalar(select(User).where(User.id_number == id_number))


async def count(svc, model):
    async with svc.db.read() as db:
        return await db.scalar(select(func.count()).select_from(model))


async def enrolment_pairs(svc):
    async with svc.db.read() as db:
        return set((await db.execute(select(Enrolment.user_id, Enrolment.batch_id))).all())


async def test_import__new_learners_get_the_initial_password_and_are_enrolled(svc, batch):
    man, woman = person_id("男"), person_id("女")
    data = xlsx([(man, "张三", "男", "甲公司", BATCH), (woman, "李四", "女", "乙公司", BATCH)])
    report = await run(svc, data)
    assert (report.rows, report.created, report.enrolled) == (2, 2, 2)
    assert report.errors == [] and report.already_enrolled == 0
    user = await user_by(svc, man)
    assert (user.name, user.gender, user.work_unit) == ("张三", "男", "甲公司")
    assert user.must_change_password and user.role_names == {"learner"}
    assert await accounts_service.check_password(user, man[-6:])
    assert (user.id, batch.id) in await enrolment_pairs(svc)


async def test_import__columns_are_found_by_header_name_in_any_order(svc, batch):
    man = person_id("男")
    header = ("批次", "工作单位", "姓名", "身份证号码", "性别")
    report = await run(svc, xlsx([(BATCH, "丙公司", "王五", man, "男")], header=header))
    assert report.created == 1 and not report.errors
    assert (await user_by(svc, man)).work_unit == "丙公司"


async def test_import__header_below_a_title_row_and_blank_rows_keep_excel_row_numbers(svc, batch):
    rows = [
        ("学员名单（2026年第一期）",),
        HEADER,
        (person_id(), "张三", "男", "", BATCH),
        (),
        (person_id(), "", "男", "", BATCH),
    ]
    report = await run(svc, xlsx(rows, header=None))
    assert report.rows == 2 and report.created == 1
    assert [(e.row, e.reason) for e in report.errors] == [(5, "姓名为空")]


async def test_import__lowercase_x_is_accepted(svc, batch):
    first17 = next(
        f"11010519800101{n:03d}"
        for n in range(1, 1000)
        if idcard.check_digit(f"11010519800101{n:03d}") == "X" and n % 2 == 1
    )
    report = await run(svc, xlsx([(first17 + "x", "张三", "男", "", BATCH)]))
    assert report.created == 1
    assert await user_by(svc, first17 + "X") is not None


async def test_import__existing_user_is_enrolled_without_touching_the_password(svc, factory, batch):
    user = await factory.user(id_number=person_id("女"), name="李四")
    report = await run(svc, xlsx([(user.id_number, "李四", "女", "新单位", BATCH)]))
    assert (report.created, report.enrolled) == (0, 1)
    again = await user_by(svc, user.id_number)
    assert again.password_hash == user.password_hash
    assert not again.must_change_password and again.work_unit == user.work_unit
    assert (user.id, batch.id) in await enrolment_pairs(svc)


async def test_import__existing_non_learner_also_gets_the_learner_role(svc, factory, batch):
    user = await factory.user(id_number=person_id("男"), name="李监考", roles=("invigilator",))
    report = await run(svc, xlsx([(user.id_number, "李监考", "男", "", BATCH)]))
    assert report.enrolled == 1
    assert (await user_by(svc, user.id_number)).role_names == {"invigilator", "learner"}


async def test_import__already_enrolled_rows_are_counted_not_errors(svc, batch):
    data = xlsx([(person_id(), "张三", "男", "", BATCH), (person_id(), "王五", "男", "", BATCH)])
    await run(svc, data)
    report = await run(svc, data)
    assert (report.created, report.enrolled, report.already_enrolled) == (0, 0, 2)
    assert report.errors == []
    assert await count(svc, Enrolment) == 2


async def test_import__existing_user_can_join_a_second_batch(svc, batch):
    second = await Factory(svc).batch("注册安全工程师继续教育 2026年第二期")
    man = person_id()
    await run(svc, xlsx([(man, "张三", "男", "", BATCH)]))
    report = await run(svc, xlsx([(man, "张三", "男", "", second.name)]))
    assert (report.created, report.enrolled) == (0, 1)
    assert await count(svc, Enrolment) == 2


def wrong_check(first17: str) -> str:
    return first17 + ("1" if idcard.check_digit(first17) != "1" else "2")


@pytest.mark.parametrize(
    ("id_number", "reason"),
    [
        ("", "身份证号为空"),
        ("12345", "身份证号应为18位"),
        ("11010519800101001Y", "身份证号应为18位"),
        (wrong_check("11010519800101001"), "校验位不正确"),
        (idcard.make("99010519800101001"), "地区码不正确"),
        (idcard.make("11010519801301001"), "出生日期不正确"),
    ],
)
async def test_import__bad_id_number_is_refused_with_the_reason(svc, batch, id_number, reason):
    report = await run(svc, xlsx([(id_number, "张三", "男", "", BATCH)]))
    assert report.created == 0 and len(report.errors) == 1
    assert report.errors[0].row == 2 and reason in report.errors[0].reason
    assert await count(svc, User) == 0


async def test_import__id_number_stored_as_an_excel_number_is_refused(svc, batch):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(HEADER))
    sheet.append([1.20105198001010e17, "张三", "男", "", BATCH])
    out = io.BytesIO()
    workbook.save(out)
    report = await run(svc, out.getvalue())
    assert "保存成了数字" in report.errors[0].reason


async def test_import__missing_name_is_refused(svc, batch):
    report = await run(svc, xlsx([(person_id(), "  ", "男", "", BATCH)]))
    assert report.errors[0].reason == "姓名为空"


async def test_import__too_long_name_and_work_unit_are_refused(svc, batch):
    report = await run(svc, xlsx([(person_id(), "张" * 51, "男", "单" * 201, BATCH)]))
    assert "姓名不能超过50个字符" in report.errors[0].reason
    assert "工作单位不能超过200个字符" in report.errors[0].reason


@pytest.mark.parametrize(("gender", "reason"), [("", "性别为空"), ("M", "性别须为“男”或“女”")])
async def test_import__gender_other_than_male_or_female_is_refused(svc, batch, gender, reason):
    report = await run(svc, xlsx([(person_id(), "张三", gender, "", BATCH)]))
    assert reason in report.errors[0].reason


async def test_import__gender_contradicting_the_id_number_is_refused(svc, batch):
    report = await run(svc, xlsx([(person_id("男"), "张三", "女", "", BATCH)]))
    assert "与身份证号" in report.errors[0].reason and "男性" in report.errors[0].reason
    assert await count(svc, User) == 0


async def test_import__empty_or_unknown_batch_is_refused(svc, batch):
    rows = [(person_id(), "张三", "男", "", ""), (person_id(), "王五", "男", "", "2030年第九期")]
    report = await run(svc, xlsx(rows))
    assert [e.reason for e in report.errors] == ["批次为空", "批次《2030年第九期》不存在"]
    assert await count(svc, User) == 0


async def test_import__batch_name_tolerates_extra_spaces(svc, batch):
    report = await run(
        svc, xlsx([(person_id(), "张三", "男", "", "  " + BATCH.replace(" ", "  "))])
    )
    assert report.enrolled == 1


async def test_import__duplicate_id_in_the_file_names_the_first_row(svc, batch):
    man = person_id()
    rows = [(man, "张三", "男", "", BATCH), (person_id(), "王五", "男", "", BATCH)]
    rows.append((man.lower(), "张三", "男", "", BATCH))
    report = await run(svc, xlsx(rows))
    assert report.created == 2
    assert [(e.row, e.reason) for e in report.errors] == [(4, "身份证号与第2行重复")]


async def test_import__name_differing_from_the_existing_account_is_refused(svc, factory, batch):
    user = await factory.user(id_number=person_id(), name="张三")
    report = await run(svc, xlsx([(user.id_number, "张叁", "男", "", BATCH)]))
    assert "姓名为“张三”" in report.errors[0].reason
    assert await enrolment_pairs(svc) == set()


async def test_import__a_row_lists_all_its_problems(svc, batch):
    report = await run(svc, xlsx([(person_id("男"), "", "女", "", "不存在的批次")]))
    reason = report.errors[0].reason
    assert (
        "姓名为空" in reason and "与身份证号" in reason and "批次《不存在的批次》不存在" in reason
    )


async def test_import__valid_rows_are_imported_and_invalid_ones_change_nothing(svc, batch):
    rows = [
        (person_id(), "张三", "男", "", BATCH),
        ("123", "坏行", "男", "", BATCH),
        (person_id(), "王五", "男", "", BATCH),
    ]
    report = await run(svc, xlsx(rows))
    assert (report.rows, report.created, len(report.errors)) == (3, 2, 1)
    assert await count(svc, User) == 2 and await count(svc, Enrolment) == 2


async def test_import__audit_log_has_the_import_and_every_row(svc, factory, batch):
    admin = await factory.user(roles=("admin",))
    rows = [(person_id(), "张三", "男", "", BATCH), ("1", "坏行", "男", "", BATCH)]
    report = await run_import(
        svc, xlsx(rows), file_name="名单.xlsx", actor_id=admin.id, ip="10.0.0.9"
    )
    async with svc.db.read() as db:
        entries = (await db.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [e.action for e in entries] == ["learner.import_row", "learner.import"]
    row_entry, summary = entries
    new_user = await user_by(svc, rows[0][0])
    assert row_entry.target_user_id == new_user.id and "第2行" in row_entry.detail
    assert summary.detail == report.summary() and "错误 1 行" in summary.detail
    assert {e.actor_id for e in entries} == {admin.id} and {e.ip for e in entries} == {"10.0.0.9"}


async def test_import__two_imports_of_the_same_file_at_once_create_each_person_once(svc, batch):
    data = xlsx([(person_id(), f"学员{i}", "男", "", BATCH) for i in range(30)])
    first, second = await asyncio.gather(run(svc, data), run(svc, data))
    assert first.errors == [] and second.errors == []
    assert first.created + second.created == 30
    assert first.enrolled + first.already_enrolled == 30
    assert second.enrolled + second.already_enrolled == 30
    assert await count(svc, User) == 30 and await count(svc, Enrolment) == 30


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "文件是空的"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500, ".xlsx"),  # an old .xls
        ("身份证号,姓名\n".encode(), ".xlsx"),  # a CSV
        (b"PK\x03\x04broken zip", ".xlsx"),
    ],
)
async def test_import__unreadable_file_is_refused_with_a_chinese_message(svc, data, message):
    with pytest.raises(AppError) as error:
        await run(svc, data)
    assert message in error.value.message


async def test_import__zip_that_is_not_a_workbook_is_refused(svc):
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(AppError, match=r"\.xlsx"):
        await run(svc, out.getvalue())


async def test_import__missing_header_columns_are_named(svc):
    data = xlsx([(person_id(), "张三")], header=("身份证号", "姓名"))
    with pytest.raises(AppError) as error:
        await run(svc, data)
    assert "表头缺少列：性别、工作单位、批次" in error.value.message


async def test_import__sheet_without_an_id_header_is_refused(svc):
    data = xlsx([("a", "b")], header=("编号", "名字"))
    with pytest.raises(AppError, match="表头缺少列：身份证号、姓名、性别、工作单位、批次"):
        await run(svc, data)


async def test_import__repeated_header_column_is_refused(svc):
    with pytest.raises(AppError, match="出现了不止一次"):
        await run(svc, xlsx([], header=(*HEADER, "姓名")))


async def test_import__empty_workbook_is_refused(svc):
    with pytest.raises(AppError, match="文件中没有数据"):
        await run(svc, xlsx([], header=None))


async def test_import__header_only_is_refused(svc):
    with pytest.raises(AppError, match="除表头外没有学员数据"):
        await run(svc, xlsx([(None, None, None, None, None)]))


async def test_import__too_many_rows_are_refused_before_anything_is_written(svc, batch):
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(list(HEADER))
    for _ in range(imports.MAX_ROWS + 1):
        sheet.append(["110105198001010011"])
    out = io.BytesIO()
    workbook.save(out)
    with pytest.raises(AppError, match="单次导入上限"):
        await run(svc, out.getvalue())
    assert await count(svc, User) == 0


async def test_import__file_over_the_size_limit_is_refused(svc):
    with pytest.raises(AppError, match="MB 的上限"):
        await run(svc, b"PK" + b"\0" * imports.MAX_BYTES)


async def test_report__summary_and_error_lines_for_the_cli(svc, batch):
    rows = [(person_id(), "张三", "男", "", BATCH), ("123", "", "男", "", BATCH)]
    report = await run(svc, xlsx(rows))
    assert report.summary() == (
        "导入文件《名单.xlsx》：共 2 行，新建账号 1 个，报名 1 人次，已报名 0 行，错误 1 行"
    )
    assert report.error_lines() == [
        "第3行 123 （无姓名）：身份证号应为18位，由17位数字和末位数字或X组成；姓名为空"
    ]
    assert imports.ImportReport.from_dict(report.to_dict()) == report


async def test_error_workbook__lists_the_refused_rows_with_reasons(svc, batch):
    report = await run(svc, xlsx([("123", "张三", "男", "甲公司", BATCH)]))
    sheet = load_workbook(io.BytesIO(imports.error_workbook(report))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("原行号", *HEADER, "错误原因")
    assert rows[1][:6] == (2, "123", "张三", "男", "甲公司", BATCH)
    assert "18位" in rows[1][6]


async def test_error_workbook__formula_looking_user_data_is_written_as_text(svc, batch):
    name, unit = '=HYPERLINK("http://x","y")', "+86 @公司"
    rows = [("123", name, "男", unit, "-1+2")]
    report = await run(svc, workbook.xlsx_bytes([Sheet("名单", header=HEADER, rows=rows)]))
    assert report.errors[0].values["name"] == name
    sheet = load_workbook(io.BytesIO(imports.error_workbook(report))).active
    for cell, value in ((sheet["C2"], name), (sheet["E2"], unit), (sheet["F2"], "-1+2")):
        assert cell.data_type == "s" and cell.value == value
    assert sheet["B2"].data_type == "s" and sheet["B2"].number_format == "@"


async def test_import__id_number_column_stays_text(svc, batch):
    man = person_id()
    report = await run(
        svc, xlsx([(man, "张三", "男", "", BATCH), ("0" + man[1:], "李四", "男", "", BATCH)])
    )
    assert report.created == 1
    assert report.errors[0].values["id_number"] == "0" + man[1:]
    assert (await user_by(svc, man)).id_number == man


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_import__hostile_file_is_refused_and_changes_nothing(svc, batch, name):
    build, message = HOSTILE[name]
    with pytest.raises(AppError) as error:
        await run(svc, build())
    assert message in error.value.message
    assert await count(svc, User) == 0 and await count(svc, AuditEntry) == 0


async def test_template_workbook__filled_in_imports_cleanly(svc, batch):
    workbook = load_workbook(io.BytesIO(imports.template_workbook()))
    assert workbook.sheetnames == ["学员名单", "填写说明"]
    # The admin writes over the example row, as the notes ask.
    for column, value in enumerate([person_id("女"), "李四", "女", "乙公司", BATCH], start=1):
        workbook.active.cell(row=2, column=column, value=value)
    out = io.BytesIO()
    workbook.save(out)
    report = await run(svc, out.getvalue())
    assert report.created == 1 and not report.errors


def _cli(config, tmp_path, *args):
    env = {
        "SAFECE_DATA_DIR": str(tmp_path),
        "SAFECE_DATABASE_URL": config.database_url,
        "SAFECE_REDIS_URL": config.redis_url,
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "app", "import-learners", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_cli_import_learners__prints_summary_and_error_rows(config, svc, batch, tmp_path):
    path = tmp_path / "名单.xlsx"
    man = person_id()
    path.write_bytes(xlsx([(man, "张三", "男", "", BATCH), ("123", "王五", "男", "", BATCH)]))
    result = _cli(config, tmp_path, str(path))
    assert result.returncode == 1  # some rows were refused
    assert "新建账号 1 个" in result.stdout and "第3行 123 王五：" in result.stdout
    assert await user_by(svc, man) is not None


async def test_cli_import_learners__bad_file_prints_the_reason(config, tmp_path):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(b"not a workbook")
    result = _cli(config, tmp_path, str(path))
    assert result.returncode == 1
    assert "导入失败：无法读取该文件" in result.stderr
