"""Study materials (导学资料) of a batch for administrators: add, replace, delete."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import AppError, Invalid, NotFound
from app.learning.catalog import record, unused_files
from app.learning.models import (
    Batch,
    Course,
    CourseKind,
    Material,
)

MATERIAL_KINDS = {CourseKind.PUBLIC: "公共课教材", CourseKind.PROFESSIONAL: "专业课教材"}
MATERIAL_SIGNATURES = {b"PK\x03\x04": ".zip", b"%PDF": ".pdf"}


def material_suffix(head: bytes) -> str:
    """The file type of a study material from its first bytes: a zip archive or a PDF."""
    for signature, suffix in MATERIAL_SIGNATURES.items():
        if head.startswith(signature):
            return suffix
    raise AppError("material_type", "导学资料只能是 zip 压缩包或 PDF 文件，请打包后重新上传")


async def materials_of(*, session: AsyncSession, batch_id: int) -> list[Material]:
    return list(
        await session.scalars(
            select(Material)
            .where(Material.batch_id == batch_id)
            .order_by(Material.kind.desc(), Material.id)
        )
    )


async def get_material(*, session: AsyncSession, material_id: int) -> Material:
    item = await session.get(Material, material_id)
    if item is None:
        raise NotFound("资料不存在")
    return item


async def add_material(
    *,
    session: AsyncSession,
    now: dt.datetime,
    actor,
    batch: Batch,
    kind: str,
    title: str,
    course_id: int | None,
    file: str,
    size_bytes: int,
) -> Material:
    """A study material of a batch (optionally of one of its courses)."""
    errors = {}
    title = " ".join(title.split())
    if not title or len(title) > 200:
        errors["title"] = "请填写资料名称（不超过 200 个字）"
    if kind not in MATERIAL_KINDS:
        errors["kind"] = "请选择资料类别"
    if course_id is not None:
        owner = await session.get(Course, course_id)
        if owner is None or owner.batch_id != batch.id:
            errors["course_id"] = "所选课程不属于该批次"
    if errors:
        raise Invalid(errors)
    item = Material(
        batch_id=batch.id,
        course_id=course_id,
        kind=kind,
        title=title,
        file=file,
        size_bytes=size_bytes,
        created_at=now,
    )
    session.add(item)
    await session.flush()
    await record(session, now, actor, "material.add", f"《{batch.name}》上传导学资料《{title}》")
    return item


async def replace_material(
    *, session: AsyncSession, now: dt.datetime, actor, item: Material, file: str, size_bytes: int
) -> list[str]:
    """A new file for a material; returns the files no longer used."""
    old = [item.file]
    item.file, item.size_bytes = file, size_bytes
    await session.flush()
    await record(session, now, actor, "material.replace", f"替换导学资料《{item.title}》")
    return await unused_files(session=session, files=old)


async def delete_material(
    *, session: AsyncSession, now: dt.datetime, actor, item: Material
) -> list[str]:
    """Remove a material; returns the files no longer used."""
    old = [item.file]
    await session.delete(item)
    await session.flush()
    await record(session, now, actor, "material.delete", f"删除导学资料《{item.title}》")
    return await unused_files(session=session, files=old)
