"""Admin test helpers: batches, Excel files built in the test, a logged-in admin."""

from __future__ import annotations

import datetime as dt
import io
import itertools

import pytest
from openpyxl import Workbook
from PIL import Image

from app.accounts import idcard
from tests.factories import Factory, login

PASSWORD = "Str0ng-Pass!"
HEADER = ("身份证号", "姓名", "性别", "工作单位", "批次")
BATCH = "注册安全工程师继续教育 2026年第一期"


_people = itertools.count(1)


def person_id(gender: str = "男") -> str:
    """A fresh valid ID number for a man or a woman (the 17th digit decides)."""
    birth = dt.date(1970, 1, 1) + dt.timedelta(days=next(_people))
    return idcard.make(f"110105{birth:%Y%m%d}00{1 if gender == '男' else 2}")


def xlsx(rows, header=HEADER) -> bytes:
    """An .xlsx file whose first sheet holds the header (if any) and the rows."""
    workbook = Workbook()
    sheet = workbook.active
    if header:
        sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def jpeg(width: int = 295, height: int = 412) -> bytes:
    """A real JPEG ID photo of the required size."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 200)).save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.fixture
async def batch(svc):
    return await Factory(svc).batch(BATCH)


@pytest.fixture
async def admin(factory):
    return await factory.user(roles=("admin",), name="王管理", password=PASSWORD)


@pytest.fixture
async def admin_client(app, svc, admin):
    """A test client logged in as the admin."""
    client = app.test_client()
    response = await login(client, svc, admin.id_number, PASSWORD)
    assert response.status_code == 302
    return client
