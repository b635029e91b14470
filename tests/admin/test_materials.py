"""Study materials uploaded, replaced and deleted; abandoned uploads and old exports
cleaned up; and every admin page refused to anyone but an admin."""

import io
import os
import time
import zipfile

import pytest
from sqlalchemy import select

from app.admin.reports import exports
from app.learning.models import Material
from app.lib import uploads
from tests.admin.helpers import post
from tests.admin.test_courses import upload
from tests.factories import login


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("提纲.txt", "安全生产\n")
    return buffer.getvalue()


async def materials(svc):
    async with svc.db.read() as db:
        return list(await db.scalars(select(Material).order_by(Material.id)))


async def test_material__uploaded_replaced_and_deleted(admin_client, svc, batch):
    response, body = await upload(
        admin_client,
        a_zip(),
        name="教材.zip",
        purpose="material",
        target={"batch_id": batch.id},
        title="公共课教材",
        kind="public",
        course_id="",
    )
    assert response.status_code == 200, body
    (item,) = await materials(svc)
    assert item.title == "公共课教材" and item.file.endswith(".zip")
    first = svc.config.data_dir / "media" / item.file
    assert first.exists()
    pdf = b"%PDF-1.4\n" + b"x" * 2000
    response, body = await upload(
        admin_client, pdf, name="教材.pdf", purpose="material", target={"material_id": item.id}
    )
    assert response.status_code == 200, body
    (replaced,) = await materials(svc)
    assert replaced.file.endswith(".pdf") and not first.exists()
    response = await post(admin_client, f"/admin/materials/{item.id}/delete")
    assert response.status_code == 302
    assert await materials(svc) == []
    assert not (svc.config.data_dir / "media" / replaced.file).exists()


async def test_material__what_is_not_a_zip_or_pdf_is_refused(admin_client, svc, batch):
    response, body = await upload(
        admin_client,
        b"MZ\x90\x00 not an archive" * 50,
        name="教材.exe",
        purpose="material",
        target={"batch_id": batch.id},
        title="教材",
        kind="public",
    )
    assert response.status_code == 400 and "只能是 zip 压缩包或 PDF 文件" in body["message"]
    response, body = await upload(
        admin_client,
        a_zip(),
        name="教材.zip",
        purpose="material",
        target={"batch_id": batch.id},
        title="",
        kind="public",
    )
    assert response.status_code == 400 and "请填写资料名称" in body["message"]
    assert await materials(svc) == []


async def test_sweep__removes_abandoned_uploads_and_old_exports(svc):
    folder = svc.config.data_dir / "uploads"
    folder.mkdir(parents=True)
    orphan = folder / ("a" * 24 + ".part")
    orphan.write_bytes(b"half a video")
    live = await uploads.begin(
        svc.redis,
        svc.config.data_dir,
        owner_id=1,
        purpose="video",
        target={"course_id": 1},
        name="v.mp4",
        size=100,
        fingerprint="v",
        max_bytes=1000,
        quota_bytes=10_000,
    )
    assert await uploads.sweep(svc.redis, svc.config.data_dir) == 1
    assert not orphan.exists() and uploads.part_path(svc.config.data_dir, live.token).exists()
    old = exports.export_dir(svc.config.data_dir)
    old.mkdir(parents=True)
    (old / "x.xlsx").write_bytes(b"x")
    stale = time.time() - 2 * 24 * 3600
    os.utime(old / "x.xlsx", (stale, stale))
    (old / "y.xlsx").write_bytes(b"y")
    assert exports.sweep(svc.config.data_dir) == 1
    assert [p.name for p in old.iterdir()] == ["y.xlsx"]


async def test_upload__the_quota_of_unfinished_uploads_is_kept(svc):
    await uploads.begin(
        svc.redis,
        svc.config.data_dir,
        owner_id=1,
        purpose="video",
        target={},
        name="a",
        size=800,
        fingerprint="a",
        max_bytes=1000,
        quota_bytes=1000,
    )
    from app.errors import AppError

    with pytest.raises(AppError) as refused:
        await uploads.begin(
            svc.redis,
            svc.config.data_dir,
            owner_id=1,
            purpose="video",
            target={},
            name="b",
            size=300,
            fingerprint="b",
            max_bytes=1000,
            quota_bytes=1000,
        )
    assert "上传总量已达上限" in refused.value.message


def admin_get_paths(app) -> list[str]:
    ids = {
        "batch_id": 1,
        "course_id": 1,
        "video_id": 1,
        "bank_id": 1,
        "question_id": 1,
        "user_id": 1,
        "token": "x" * 22,
        "material_id": 1,
    }
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin.") and "GET" in rule.methods:
            paths.append(rule.build({k: v for k, v in ids.items() if k in rule.arguments})[1])
    return sorted(set(paths))


async def test_every_admin_page__is_refused_to_a_learner(app, svc, factory):
    learner = await factory.user()
    client = app.test_client()
    await login(client, svc, learner.id_number, "Str0ng-Pass!")
    paths = admin_get_paths(app)
    assert "/admin/batches" in paths and "/admin/reports" in paths and len(paths) > 20
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 403, path
    anonymous = app.test_client()
    for path in paths:
        response = await anonymous.get(path)
        assert response.status_code in (302, 401), path
