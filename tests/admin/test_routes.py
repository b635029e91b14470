import asyncio
import html
import io
import json
import re
from urllib.parse import urlencode

import pytest
from openpyxl import load_workbook
from quart.datastructures import FileStorage
from sqlalchemy import select

from app.accounts import sessions
from app.accounts.models import User
from app.admin import imports
from app.audit.models import AuditEntry
from app.learning.models import Enrolment
from app.lib import workbook
from app.lib.workbook import Sheet
from app.profile import service as profile
from tests.admin.conftest import BATCH, HEADER, PASSWORD, jpeg, person_id, xlsx
from tests.factories import csrf_of, login, session_cookie
from tests.spreadsheets import HOSTILE


async def text(response) -> str:
    return await response.get_data(as_text=True)


async def fresh(svc, user_id) -> User:
    async with svc.db.read() as db:
        return await db.get(User, user_id)


async def audit_actions(svc) -> list[str]:
    async with svc.db.read() as db:
        return list((await db.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all())


async def post(client, path, **form):
    form["csrf_token"] = await csrf_of(client)
    return await client.post(path, form=form)


async def upload_photo(client, data):
    """Upload an ID photo as the profile page does."""
    return await client.post(
        "/api/profile/photo",
        files={
            "photo": FileStorage(io.BytesIO(data), filename="me.jpg", content_type="image/jpeg")
        },
        headers={"X-CSRF-Token": await csrf_of(client), "Accept": "application/json"},
    )


async def learner_client(app, svc, user, password=PASSWORD):
    client = app.test_client()
    assert (await login(client, svc, user.id_number, password)).status_code == 302
    return client


GET_PAGES = [
    "/admin",
    "/admin/learners",
    "/admin/learners/{id}",
    "/admin/learners/import",
    "/admin/learners/import-template.xlsx",
    "/admin/audit",
    "/admin/users/{id}/photo",
]
POST_ACTIONS = [
    "/admin/learners/{id}/photo/reset",
    "/admin/learners/{id}/phone",
    "/admin/learners/{id}/password/reissue",
    "/admin/learners/{id}/active",
    "/admin/learners/{id}/roles",
    "/admin/learners/{id}/attention",
    "/admin/learners/import",
]


@pytest.mark.parametrize("path", GET_PAGES)
async def test_admin_pages__anonymous_is_sent_to_login(client, factory, path):
    user = await factory.user()
    response = await client.get(path.format(id=user.id))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("path", GET_PAGES)
async def test_admin_pages__learner_gets_403(app, svc, factory, path):
    user = await factory.user()
    client = await learner_client(app, svc, user)
    response = await client.get(path.format(id=user.id))
    assert response.status_code == 403
    assert "您没有权限访问该页面" in await text(response)


@pytest.mark.parametrize("path", POST_ACTIONS)
async def test_admin_actions__learner_gets_403_and_nothing_changes(app, svc, factory, path):
    user = await factory.user()
    client = await learner_client(app, svc, user)
    response = await post(client, path.format(id=user.id), active="0", roles="admin")
    assert response.status_code == 403
    assert (await fresh(svc, user.id)).role_names == {"learner"}
    assert await audit_actions(svc) == []


async def test_admin_actions__without_csrf_token_are_refused(admin_client, svc, factory):
    user = await factory.user()
    response = await admin_client.post(f"/admin/learners/{user.id}/active", form={"active": "0"})
    assert response.status_code == 400
    assert (await fresh(svc, user.id)).is_active


async def test_admin_nav__admin_sees_the_admin_tab(admin_client):
    page = await text(await admin_client.get("/admin"))
    assert 'href="/admin"' in page and "管理概览" in page


async def test_index__shows_counts_and_section_links(admin_client, svc, factory, batch):
    learner = await factory.user()
    await factory.user()
    async with svc.db.write() as db:
        db.add(Enrolment(user_id=learner.id, batch_id=batch.id, enrolled_at=svc.now()))
    page = await text(await admin_client.get("/admin"))
    counts = dict(re.findall(r'id="stat-(\w+)">\s*<span class="stat-num">(\d+)', page))
    counts.update(re.findall(r'id="stat-(\w+)"><span class="stat-num">(\d+)', page))
    assert counts == {
        "learners": "2",
        "batches": "1",
        "enrolments": "1",
        "photos": "2",
        "phones": "2",
        "initial": "0",
    }
    for link in ("/admin/learners", "/admin/learners/import", "/admin/audit"):
        assert f'href="{link}"' in page


async def test_learners__search_shows_the_full_id_and_status_columns(admin_client, factory):
    user = await factory.user(name="张安全", work_unit="天津港集团", id_number=person_id())
    await factory.user(name="李四")
    page = await text(await admin_client.get("/admin/learners", query_string={"q": "天津港"}))
    assert user.id_number in page and "张安全" in page and "李四" not in page
    assert "未上传" in page and "未绑定" in page and "正常" in page


async def test_learners__filter_by_batch(admin_client, svc, factory, batch):
    inside, outside = await factory.user(name="报名者"), await factory.user(name="未报名者")
    async with svc.db.write() as db:
        db.add(Enrolment(user_id=inside.id, batch_id=batch.id, enrolled_at=svc.now()))
    page = await text(await admin_client.get(f"/admin/learners?batch={batch.id}"))
    assert inside.id_number in page and outside.id_number not in page


async def test_learners__pagination_keeps_the_filters(admin_client, factory):
    for i in range(23):
        await factory.user(name=f"学员{i:02d}")
    first = await text(await admin_client.get("/admin/learners?role=learner"))
    assert "共 23 条，第 1 / 2 页" in first
    assert "/admin/learners?role=learner&amp;page=2" in first
    second = await text(await admin_client.get("/admin/learners?role=learner&page=2"))
    assert "学员02" in second and "学员22" not in second


async def test_learners__bad_query_values_are_ignored(admin_client):
    response = await admin_client.get("/admin/learners?page=abc&batch=x&role=root&status=?")
    assert response.status_code == 200


async def test_learners__no_match_says_so(admin_client):
    page = await text(await admin_client.get("/admin/learners", query_string={"q": "没有这个人"}))
    assert "没有找到符合条件的账号" in page


async def test_learner_detail__shows_photo_enrolments_roles_and_history(
    app, admin_client, svc, factory, batch
):
    user = await factory.user(name="张安全")
    client = await learner_client(app, svc, user)
    assert (await upload_photo(client, jpeg())).status_code == 200
    async with svc.db.write() as db:
        db.add(Enrolment(user_id=user.id, batch_id=batch.id, enrolled_at=svc.now()))
    await post(admin_client, f"/admin/learners/{user.id}/phone", phone="13800000001", op="save")
    page = await text(await admin_client.get(f"/admin/learners/{user.id}"))
    assert f'src="/admin/users/{user.id}/photo"' in page
    assert BATCH in page and user.id_number in page and "学员" in page
    assert "更改手机号" in page and "13800000001" in page
    photo = await admin_client.get(f"/admin/users/{user.id}/photo")
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"


async def test_learner_detail__unknown_user_is_404(admin_client):
    response = await admin_client.get("/admin/learners/999999")
    assert response.status_code == 404
    assert "该账号不存在" in await text(response)


async def test_reset_photo__learner_can_upload_again_and_old_file_is_gone(
    app, admin_client, svc, factory
):
    user = await factory.user()
    client = await learner_client(app, svc, user)
    assert (await upload_photo(client, jpeg())).status_code == 200
    old = profile.photo_path(svc.config, await fresh(svc, user.id))
    assert (await upload_photo(client, jpeg())).status_code == 409  # once only

    response = await post(admin_client, f"/admin/learners/{user.id}/photo/reset")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/learners/{user.id}?done=photo_reset"
    page = await text(await admin_client.get(response.headers["Location"]))
    assert "照片已重置，学员可重新上传照片。" in page and "未上传照片" in page
    assert not old.exists()
    assert await audit_actions(svc) == ["learner.photo_reset"]

    assert (await upload_photo(client, jpeg())).status_code == 200
    assert (await fresh(svc, user.id)).photo_file is not None


async def test_reset_photo__without_photo_shows_the_reason_on_the_page(admin_client, svc, factory):
    user = await factory.user()
    response = await post(admin_client, f"/admin/learners/{user.id}/photo/reset")
    assert response.status_code == 400
    page = await text(response)
    assert "该学员尚未上传照片，无需重置" in page and user.id_number in page
    assert await audit_actions(svc) == []


async def test_phone__admin_changes_then_clears_it(admin_client, svc, factory):
    user = await factory.user()
    response = await post(
        admin_client, f"/admin/learners/{user.id}/phone", phone="13800000001", op="save"
    )
    assert response.headers["Location"].endswith("done=phone_set")
    assert (await fresh(svc, user.id)).phone == "13800000001"
    response = await post(admin_client, f"/admin/learners/{user.id}/phone", phone="", op="clear")
    assert response.headers["Location"].endswith("done=phone_clear")
    page = await text(await admin_client.get(response.headers["Location"]))
    assert "手机号已清除，学员可重新绑定。" in page
    assert (await fresh(svc, user.id)).phone is None
    assert await audit_actions(svc) == ["learner.phone_set", "learner.phone_clear"]


@pytest.mark.parametrize(
    ("phone", "message"), [("", "请输入新的手机号码"), ("1380000", "请输入正确的11位手机号码")]
)
async def test_phone__bad_number_is_refused_on_the_page(admin_client, svc, factory, phone, message):
    user = await factory.user()
    response = await post(admin_client, f"/admin/learners/{user.id}/phone", phone=phone, op="save")
    assert response.status_code == 400 and message in await text(response)
    assert (await fresh(svc, user.id)).phone is None


async def test_reissue__ends_old_sessions_and_initial_password_forces_a_change(
    app, admin_client, svc, factory
):
    user = await factory.user()
    client = await learner_client(app, svc, user)
    token = session_cookie(client)
    response = await post(admin_client, f"/admin/learners/{user.id}/password/reissue")
    assert response.headers["Location"].endswith("done=password_reissue")
    assert await sessions.load(svc.redis, token) is None
    response = await client.get("/profile")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")

    assert (await login(client, svc, user.id_number, PASSWORD)).status_code == 401
    response = await login(client, svc, user.id_number, user.id_number[-6:])
    assert response.headers["Location"] == "/password"
    assert (await client.get("/profile")).headers["Location"] == "/password"
    assert await audit_actions(svc) == ["learner.password_reissue"]


async def test_deactivate__ends_sessions_and_blocks_login_until_activated(
    app, admin_client, svc, factory
):
    user = await factory.user()
    client = await learner_client(app, svc, user)
    token = session_cookie(client)
    response = await post(admin_client, f"/admin/learners/{user.id}/active", active="0")
    assert response.headers["Location"].endswith("done=deactivate")
    assert await sessions.load(svc.redis, token) is None
    assert (await login(client, svc, user.id_number, PASSWORD)).status_code == 401
    await post(admin_client, f"/admin/learners/{user.id}/active", active="1")
    assert (await login(client, svc, user.id_number, PASSWORD)).status_code == 302
    assert await audit_actions(svc) == ["learner.deactivate", "learner.activate"]


async def test_deactivate__admin_cannot_deactivate_themselves(admin_client, svc, admin):
    response = await post(admin_client, f"/admin/learners/{admin.id}/active", active="0")
    assert response.status_code == 400 and "不能停用自己的账号" in await text(response)
    assert (await fresh(svc, admin.id)).is_active


async def test_roles__admin_edits_roles(admin_client, svc, factory):
    user = await factory.user()
    response = await admin_client.post(
        f"/admin/learners/{user.id}/roles",
        data=urlencode(
            [
                ("csrf_token", await csrf_of(admin_client)),
                ("roles", "learner"),
                ("roles", "invigilator"),
            ]
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.headers["Location"].endswith("done=roles")
    assert (await fresh(svc, user.id)).role_names == {"learner", "invigilator"}


async def test_roles__none_chosen_is_refused(admin_client, svc, factory):
    user = await factory.user()
    response = await post(admin_client, f"/admin/learners/{user.id}/roles")
    assert response.status_code == 400 and "请至少选择一个角色" in await text(response)
    assert (await fresh(svc, user.id)).role_names == {"learner"}


async def test_roles__admin_cannot_remove_their_own_admin_role(admin_client, svc, admin):
    response = await post(admin_client, f"/admin/learners/{admin.id}/roles", roles="learner")
    assert response.status_code == 400 and "不能取消自己的管理员角色" in await text(response)
    assert (await fresh(svc, admin.id)).role_names == {"admin"}


async def import_file(client, data, filename="名单.xlsx", wait=True):
    """Upload a file to the import page and wait for the worker to write its rows."""
    response = await client.post(
        "/admin/learners/import",
        form={"csrf_token": await csrf_of(client)},
        files={"file": FileStorage(io.BytesIO(data), filename=filename)},
    )
    if response.status_code == 302 and wait:
        token = response.headers["Location"].rsplit("/", 1)[1]
        svc = client.app.extensions["safece"]
        for _ in range(500):
            status = await imports.load_status(svc, token)
            if status["state"] in ("done", "failed"):
                break
            await asyncio.sleep(0.02)
    return response


async def test_import_page__upload_shows_counts_and_error_rows(
    admin_client, svc, batch, admin, worker
):
    rows = [
        (person_id(), "张三", "男", "甲公司", BATCH),
        (person_id(), "李四", "男", "", "不存在的批次"),
        ("123", "王五", "男", "", BATCH),
    ]
    response = await import_file(admin_client, xlsx(rows))
    assert response.status_code == 302
    result = response.headers["Location"]
    page = await text(await admin_client.get(result))
    counts = dict(re.findall(r'id="c-(\w+)">(\d+)<', page))
    assert counts == {"rows": "3", "created": "1", "enrolled": "1", "already": "0", "errors": "2"}
    assert "第3行" in page and "批次《不存在的批次》不存在" in page
    assert "第4行" in page and "身份证号应为18位" in page
    async with svc.db.read() as db:
        summary = await db.scalar(select(AuditEntry).where(AuditEntry.action == "learner.import"))
    assert summary.actor_id == admin.id and "《名单.xlsx》" in summary.detail

    download = await admin_client.get(result + "/errors.xlsx")
    assert download.status_code == 200
    assert "filename*=UTF-8''%E5%90%8D%E5%8D%95-" in download.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(await download.get_data())).active
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == [3, 4]


async def test_import_page__all_good_says_so(admin_client, batch, worker):
    response = await import_file(admin_client, xlsx([(person_id(), "张三", "男", "", BATCH)]))
    page = await text(await admin_client.get(response.headers["Location"]))
    assert "全部导入成功" in page and "下载错误行" not in page


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"a,b\n1,2", "名单.csv", "请上传 Excel 2007 及以上版本的 .xlsx 文件"),
        (xlsx([], header=("身份证号", "姓名")), "名单.xlsx", "表头缺少列：性别、工作单位、批次"),
        (xlsx([], header=None), "空.xlsx", "文件中没有数据"),
        (b"", "空.xlsx", "上传的文件是空的"),
    ],
)
async def test_import_page__bad_file_shows_the_reason(admin_client, svc, data, filename, message):
    response = await import_file(admin_client, data, filename)
    assert response.status_code == 400
    page = await text(response)
    assert message in page and 'id="import-form"' in page
    async with svc.db.read() as db:
        assert await db.scalar(select(AuditEntry.id)) is None


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_import_page__hostile_file_is_refused_with_the_reason(admin_client, svc, name):
    build, message = HOSTILE[name]
    response = await import_file(admin_client, build(), "名单.xlsx", wait=False)
    assert response.status_code == 400
    page = await text(response)
    assert html.escape(message, quote=False) in page and 'id="import-form"' in page
    async with svc.db.read() as db:
        assert await db.scalar(select(AuditEntry.id)) is None
    assert not (svc.config.data_dir / "imports").exists() or not any(
        (svc.config.data_dir / "imports").iterdir()
    )


async def test_import_errors__formula_looking_names_download_as_text(admin_client, batch, worker):
    name = '=HYPERLINK("http://x","y")'
    rows = [("123", name, "男", "", BATCH)]
    data = workbook.xlsx_bytes([Sheet("名单", header=HEADER, rows=rows)])
    response = await import_file(admin_client, data)
    download = await admin_client.get(response.headers["Location"] + "/errors.xlsx")
    cell = load_workbook(io.BytesIO(await download.get_data())).active["C2"]
    assert cell.data_type == "s" and cell.value == name


async def test_import_page__no_file_chosen_says_so(admin_client):
    response = await admin_client.post(
        "/admin/learners/import", form={"csrf_token": await csrf_of(admin_client)}
    )
    assert response.status_code == 400 and "请选择要导入的学员名单" in await text(response)


async def test_import_page__file_over_the_limit_is_refused_before_reading(admin_client):
    response = await import_file(admin_client, b"PK" + b"\0" * (imports.MAX_BYTES + 100_000))
    assert response.status_code == 413 and "MB 的上限" in await text(response)


async def test_import_result__shows_progress_then_an_interrupted_import(admin_client, svc, clock):
    status = {"state": "running", "file_name": "大名单.xlsx", "done": 500, "total": 8000}
    await svc.redis.set(
        "admin:import:tok", json.dumps({**status, "updated": svc.now().timestamp()})
    )
    page = await text(await admin_client.get("/admin/learners/import/tok"))
    assert "已处理 500 / 8000 行" in page and 'http-equiv="refresh"' in page
    clock.advance(minutes=11)
    page = await text(await admin_client.get("/admin/learners/import/tok"))
    assert "导入被中断" in page and 'http-equiv="refresh"' not in page
    response = await admin_client.get("/admin/learners/import/tok/errors.xlsx")
    assert response.status_code == 404


async def test_import_result__unknown_token_is_404(admin_client):
    response = await admin_client.get("/admin/learners/import/nope")
    assert response.status_code == 404 and "导入结果已过期" in await text(response)


async def test_import_template__downloads_the_header(admin_client):
    response = await admin_client.get("/admin/learners/import-template.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(await response.get_data())).active
    assert next(sheet.iter_rows(values_only=True)) == (
        "身份证号",
        "姓名",
        "性别",
        "工作单位",
        "批次",
    )


async def test_audit_page__lists_actions_in_chinese_with_beijing_time_and_ip(
    admin_client, svc, factory
):
    user = await factory.user(name="张安全")
    await post(admin_client, f"/admin/learners/{user.id}/password/reissue")
    await post(admin_client, f"/admin/learners/{user.id}/active", active="0")
    page = await text(await admin_client.get("/admin/audit"))
    # The frozen clock is 01:00 UTC, 09:00 in Shanghai.
    assert "2026-03-02 09:00:00" in page
    assert "重发初始密码" in page and "停用账号" in page and "王管理" in page and "张安全" in page
    async with svc.db.read() as db:
        ips = set((await db.scalars(select(AuditEntry.ip))).all())
    assert len(ips) == 1 and ips != {""}
    assert f'<td class="mono nowrap">{html.escape(ips.pop())}</td>' in page
    filtered = await text(await admin_client.get("/admin/audit?action=learner.deactivate"))
    assert "账号已停用" in filtered and "初始密码（身份证号后六位）已重新发放" not in filtered


async def test_audit_page__pages(admin_client, svc, factory):
    from app.audit import service as audit

    async with svc.db.write() as db:
        for i in range(35):
            await audit.record(
                session=db, now=svc.now(), actor_id=None, action="learner.roles", detail=f"第{i}条"
            )
    first = await text(await admin_client.get("/admin/audit"))
    assert "共 35 条，第 1 / 2 页" in first and "第34条" in first
    second = await text(await admin_client.get("/admin/audit?page=2"))
    assert "第0条" in second and "第34条" not in second


async def test_import_page__without_a_worker_the_import_waits_in_the_queue(admin_client, batch):
    data = xlsx([(person_id(), "张三", "男", "", BATCH)])
    response = await import_file(admin_client, data, wait=False)
    page = await text(await admin_client.get(response.headers["Location"]))
    assert "正在排队等待后台处理" in page and 'http-equiv="refresh"' in page


async def test_audit_ip__behind_a_proxy_is_the_hop_it_saw_not_the_clients_claim(
    admin_client, svc, factory
):
    svc.config.trust_proxy = 1  # nginx alone in front
    user = await factory.user()
    form = {"csrf_token": await csrf_of(admin_client), "active": "0"}
    forged = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7"}  # the leftmost is the client's say
    response = await admin_client.post(
        f"/admin/learners/{user.id}/active", form=form, headers=forged
    )
    assert response.status_code in (200, 302)
    async with svc.db.read() as db:
        ips = list(
            await db.scalars(select(AuditEntry.ip).where(AuditEntry.target_user_id == user.id))
        )
    assert ips == ["203.0.113.7"]
