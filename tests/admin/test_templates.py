"""Every Excel import has a template to download from its page: the columns the importer
reads, one example row per kind (which the importer accepts as it is), and the rules in a
second sheet."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from werkzeug.datastructures import FileStorage

from app.registration import qualifications
from tests.admin.conftest import BATCH
from tests.admin.helpers import plain, text
from tests.admin.test_banks import make_bank
from tests.admin.test_imports import run
from tests.factories import csrf_of


async def _download(client, page_url: str, url: str):
    """Follow the page's link to the template, as an admin clicks it."""
    page = await text(await client.get(page_url))
    assert f'href="{url}"' in page, url
    response = await client.get(url)
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = await response.get_data()
    return data, load_workbook(io.BytesIO(data))


def _rules(book) -> str:
    assert len(book.sheetnames) == 2
    return " ".join(str(c) for row in book.worksheets[1].iter_rows(values_only=True) for c in row)


async def test_question_template__every_type_imports_as_it_is(admin_client, svc):
    bank_id = await make_bank(admin_client)
    data, book = await _download(
        admin_client, f"/admin/banks/{bank_id}", "/admin/banks/import-template.xlsx"
    )
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:2] == ("题型", "题干") and "答案" in rows[0]
    assert [r[0] for r in rows[1:]] == ["单选题", "多选题", "判断题"]
    rules = _rules(book)
    assert "判断题填“对”或“错”" in rules and "导入前请删除或改写" in rules
    response = await admin_client.post(
        f"/admin/banks/{bank_id}/import",
        form={"csrf_token": await csrf_of(admin_client)},
        files={"file": FileStorage(io.BytesIO(data), filename="试题导入模板.xlsx")},
    )
    assert "成功导入 3 道" in plain(await text(response))


async def test_learner_template__its_example_imports(admin_client, svc, batch):
    data, book = await _download(
        admin_client, "/admin/learners/import", "/admin/learners/import-template.xlsx"
    )
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0] == ("身份证号", "姓名", "性别", "工作单位", "批次") and rows[1][4] == BATCH
    assert book.active["A2"].number_format == "@"  # the ID number column is text
    assert "导入前请删除或改写" in _rules(book)
    report = await run(svc, data)
    assert report.created == 1 and not report.errors


async def test_qualification_template__its_example_imports(admin_client, svc):
    data, book = await _download(
        admin_client,
        "/admin/registration/qualifications",
        "/admin/registration/qualifications/template.xlsx",
    )
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0] == tuple(qualifications.HEADERS.values()) and len(rows) == 2
    rules = _rules(book)
    assert "化工安全" in rules and "初级、中级、高级" in rules
    parsed = qualifications.read_rows(data, file_name="资格.xlsx")
    async with svc.db.write() as db:
        report = await qualifications.import_rows(
            session=db, rows=parsed, file_name="资格.xlsx", now=svc.now(), actor_id=None
        )
    assert report.created == 1 and not report.errors
