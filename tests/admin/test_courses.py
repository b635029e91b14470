"""课程管理 and videos: courses created and edited with every bad value refused, chunked
uploads that resume, videos a browser cannot play refused, replacements that keep or
reset credit as announced, deleting only what nobody studied, and reuse across batches."""

import datetime as dt
import json
import shutil

import pytest
from sqlalchemy import func, select

from app.learning import credit
from app.learning.models import Course, Video, VideoProgress
from tests.admin.helpers import audit_count, field_error, local, plain, post, text
from tests.admin.media import make_video
from tests.factories import Factory, csrf_of

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffmpeg")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Short real videos: a good MP4, a longer one, and kinds browsers cannot play."""
    folder = tmp_path_factory.mktemp("videos")
    return {
        "good": make_video(folder / "good.mp4", seconds=4),
        "same": make_video(folder / "same.mp4", seconds=4),
        "longer": make_video(folder / "longer.mp4", seconds=6),
        "webm": make_video(folder / "clip.webm", seconds=2, video="libvpx", audio="libopus"),
        "hevc": make_video(folder / "hevc.mp4", seconds=2, video="libx265"),
        "avi": make_video(folder / "old.avi", seconds=2, video="mpeg4", audio=None),
        "mp3": make_video(folder / "mp3.mp4", seconds=2, audio="libmp3lame"),
    }


async def create_course(client, batch_id, **fields) -> int:
    form = {
        "batch_id": str(batch_id),
        "name": "安全生产法律法规",
        "lecturer": "刘建国",
        "kind": "public",
        "required": "1",
    }
    form.update(fields)
    response = await post(client, "/admin/courses/new", **form)
    assert response.status_code == 302, await text(response)
    return int(response.headers["Location"].split("/")[3].split("?")[0])


async def upload(
    client, data: bytes, *, name: str, target: dict, purpose="video", chunk=64 * 1024, **fields
):
    """Upload as uploader.js does: begin, chunks at their offsets, finish."""
    headers = {"X-CSRF-Token": await csrf_of(client), "Accept": "application/json"}
    begun = await client.post(
        "/admin/uploads",
        json={
            "purpose": purpose,
            "target": target,
            "name": name,
            "size": len(data),
            "fingerprint": f"{name}|{len(data)}|1",
        },
        headers=headers,
    )
    body = await begun.get_json()
    if begun.status_code != 200:
        return begun, body
    token, received = body["token"], body["received"]
    while received < len(data):
        part = data[received : received + chunk]
        response = await client.put(
            f"/admin/uploads/{token}?offset={received}", data=part, headers=headers
        )
        assert response.status_code == 200, await response.get_data(as_text=True)
        received = (await response.get_json())["received"]
    finished = await client.post(f"/admin/uploads/{token}/finish", json=fields, headers=headers)
    return finished, await finished.get_json()


async def video_rows(svc, course_id):
    async with svc.db.read() as db:
        return list(
            await db.scalars(
                select(Video).where(Video.course_id == course_id).order_by(Video.position)
            )
        )


async def test_course__created_listed_and_edited(admin_client, svc, batch):
    course_id = await create_course(admin_client, batch.id)
    listing = await text(await admin_client.get(f"/admin/courses?batch={batch.id}"))
    assert "安全生产法律法规" in listing and "刘建国" in listing
    page = await text(await admin_client.get(f"/admin/courses/{course_id}"))
    assert "使用该课程的批次" in page and batch.name in page
    response = await post(
        admin_client,
        f"/admin/courses/{course_id}",
        name="安全生产法律法规新要求",
        lecturer="刘建国",
        kind="public",
    )
    assert response.status_code == 302
    async with svc.db.read() as db:
        course = await db.get(Course, course_id)
    assert course.name == "安全生产法律法规新要求" and course.required is False
    log = await text(await admin_client.get("/admin/audit?action=course.update"))
    assert "必修" in log and "安全生产法律法规新要求" in log


async def test_course_move__up_and_down_within_the_batch(admin_client, svc, batch):
    first = await create_course(admin_client, batch.id, name="第一门")
    second = await create_course(admin_client, batch.id, name="第二门")

    async def order() -> list[int]:
        async with svc.db.read() as db:
            rows = await db.scalars(
                select(Course.id).where(Course.batch_id == batch.id).order_by(Course.position)
            )
            return [i for i in rows if i in (first, second)]

    assert await order() == [first, second]
    response = await post(admin_client, f"/admin/courses/{second}/move", dir="up")
    assert response.status_code == 302 and await order() == [second, first]
    await post(admin_client, f"/admin/courses/{second}/move", dir="up")  # already first
    assert await order() == [second, first]
    await post(admin_client, f"/admin/courses/{second}/move", dir="down")
    assert await order() == [first, second]
    listing = await text(await admin_client.get(f"/admin/courses?batch={batch.id}"))
    assert listing.index("第一门") < listing.index("第二门")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "请填写课程名称"),
        ({"lecturer": "x" * 51}, "lecturer", "主讲人不能超过 50 个字"),
        ({"kind": "other"}, "kind", "请选择课程类型"),
        ({"deadline": "d-1"}, "deadline", "截止日期必须晚于现在"),
        ({"batch_id": ""}, "batch_id", "请选择批次"),
    ],
)
async def test_course__bad_values_are_refused_next_to_the_field(
    admin_client, svc, batch, fields, field, message
):
    form = {"batch_id": str(batch.id), "name": "课程", "lecturer": "讲师", "kind": "public"}
    for key, value in fields.items():
        form[key] = (
            local(svc.now() + dt.timedelta(days=int(value[1:])))
            if value.startswith("d-")
            else value
        )
    response = await post(admin_client, "/admin/courses/new", **form)
    assert response.status_code == 400
    assert message in (field_error(await text(response), field) or "")
    async with svc.db.read() as db:
        assert await db.scalar(select(func.count(Course.id))) == 0


async def test_video__chunked_upload_reads_duration_and_makes_a_poster(
    admin_client, svc, batch, videos
):
    course_id = await create_course(admin_client, batch.id)
    response, body = await upload(
        admin_client,
        videos["good"].read_bytes(),
        name="第1讲.mp4",
        target={"course_id": course_id},
        title="修订要点",
    )
    assert response.status_code == 200, body
    assert body["redirect"].startswith(f"/admin/courses/{course_id}")
    (video,) = await video_rows(svc, course_id)
    assert video.title == "修订要点" and video.mimetype == "video/mp4"
    assert 3900 <= video.duration_ms <= 4100
    assert video.poster and (svc.config.data_dir / "media" / video.poster).stat().st_size > 0
    poster = await admin_client.get(f"/admin/videos/{video.id}/poster")
    assert poster.status_code == 200 and (await poster.get_data())[:2] == b"\xff\xd8"
    assert not list((svc.config.data_dir / "uploads").glob("*.part"))
    page = await text(await admin_client.get(f"/admin/courses/{course_id}"))
    assert "修订要点" in page and "00:04" in page
    response, body = await upload(
        admin_client, videos["webm"].read_bytes(), name="clip.webm", target={"course_id": course_id}
    )
    assert response.status_code == 200, body
    assert [v.mimetype for v in await video_rows(svc, course_id)] == ["video/mp4", "video/webm"]


async def test_upload__resumes_from_what_the_server_holds(admin_client, svc, batch, videos):
    course_id = await create_course(admin_client, batch.id)
    data = videos["good"].read_bytes()
    headers = {"X-CSRF-Token": await csrf_of(admin_client), "Accept": "application/json"}
    begin = {
        "purpose": "video",
        "target": {"course_id": course_id},
        "name": "a.mp4",
        "size": len(data),
        "fingerprint": "a.mp4|x",
    }
    token = (
        await (await admin_client.post("/admin/uploads", json=begin, headers=headers)).get_json()
    )["token"]
    await admin_client.put(f"/admin/uploads/{token}?offset=0", data=data[:10000], headers=headers)
    # The connection dropped; a chunk sent at the wrong offset is refused, nothing is appended.
    wrong = await admin_client.put(
        f"/admin/uploads/{token}?offset=20000", data=data[20000:30000], headers=headers
    )
    refused = await wrong.get_json()
    # The docstring's promise: the right offset comes with the refusal.
    assert wrong.status_code == 409 and "断点" in refused["message"]
    assert refused["code"] == "upload_offset" and refused["received"] == 10000
    # The page, reloaded, begins the same file again and is told where to continue.
    again = await (
        await admin_client.post("/admin/uploads", json=begin, headers=headers)
    ).get_json()
    assert again["token"] == token and again["received"] == 10000
    status = await (await admin_client.get(f"/admin/uploads/{token}", headers=headers)).get_json()
    assert status["received"] == 10000
    early = await admin_client.post(f"/admin/uploads/{token}/finish", json={}, headers=headers)
    refused = await early.get_json()
    assert early.status_code == 409 and "尚未上传完" in refused["message"]
    assert refused["received"] == 10000
    await admin_client.put(
        f"/admin/uploads/{token}?offset=10000", data=data[10000:], headers=headers
    )
    done = await admin_client.post(f"/admin/uploads/{token}/finish", json={}, headers=headers)
    assert done.status_code == 200
    assert len(await video_rows(svc, course_id)) == 1


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("hevc", "H.265/HEVC"),
        ("avi", "浏览器无法播放"),
        ("mp3", "音频编码为 mp3"),
        ("text", "不是视频文件"),
    ],
)
async def test_video__what_a_browser_cannot_play_is_refused(
    admin_client, svc, batch, videos, kind, message
):
    course_id = await create_course(admin_client, batch.id)
    data = b"this is not a video\n" * 100 if kind == "text" else videos[kind].read_bytes()
    response, body = await upload(
        admin_client, data, name=f"x.{kind}", target={"course_id": course_id}
    )
    assert response.status_code == 400
    assert message in body["message"]
    assert await video_rows(svc, course_id) == []
    assert not list((svc.config.data_dir / "uploads").glob("*.part"))
    assert not (svc.config.data_dir / "media" / "videos").exists() or not list(
        (svc.config.data_dir / "media" / "videos").iterdir()
    )


async def test_upload__over_the_limit_is_refused_before_any_byte(admin_client, svc, batch):
    svc.config.video_max_bytes = 1024 * 1024
    course_id = await create_course(admin_client, batch.id)
    headers = {"X-CSRF-Token": await csrf_of(admin_client), "Accept": "application/json"}
    begin = {
        "purpose": "video",
        "target": {"course_id": course_id},
        "name": "big.mp4",
        "size": 5 * 1024 * 1024,
        "fingerprint": "big",
    }
    response = await admin_client.post("/admin/uploads", json=begin, headers=headers)
    assert response.status_code == 413
    assert "超过上限 1 MB" in (await response.get_json())["message"]
    assert not (svc.config.data_dir / "uploads").exists() or not list(
        (svc.config.data_dir / "uploads").iterdir()
    )


async def test_upload__needs_the_admin_role_and_the_csrf_token(
    app, svc, admin_client, batch, factory
):
    from tests.factories import login

    course_id = await create_course(admin_client, batch.id)
    begin = {
        "purpose": "video",
        "target": {"course_id": course_id},
        "name": "a.mp4",
        "size": 10,
        "fingerprint": "a",
    }
    no_token = await admin_client.post(
        "/admin/uploads", json=begin, headers={"Accept": "application/json"}
    )
    assert no_token.status_code == 400 and (await no_token.get_json())["code"] == "csrf"
    learner = await factory.user()
    client = app.test_client()
    await login(client, svc, learner.id_number, "Str0ng-Pass!")
    headers = {"X-CSRF-Token": await csrf_of(client), "Accept": "application/json"}
    assert (await client.post("/admin/uploads", json=begin, headers=headers)).status_code == 403


async def learner_progress(svc, factory, batch, video, segments):
    user = await factory.user()
    from app.learning.models import Enrolment

    async with svc.db.write() as db:
        db.add(Enrolment(user_id=user.id, batch_id=batch.id, enrolled_at=svc.now()))
    async with svc.db.write() as db:
        for start, end in segments:
            await credit.record_watched(
                session=db,
                user_id=user.id,
                video_id=video.id,
                start_s=start,
                end_s=end,
                at=svc.now(),
            )
    return user


async def progress_of(svc, user_id, video_id):
    async with svc.db.read() as db:
        return await db.scalar(
            select(VideoProgress).where(
                VideoProgress.user_id == user_id, VideoProgress.video_id == video_id
            )
        )


async def test_replace__same_duration_keeps_every_learners_segments(
    admin_client, svc, batch, factory, videos
):
    course_id = await create_course(admin_client, batch.id)
    await upload(
        admin_client, videos["good"].read_bytes(), name="a.mp4", target={"course_id": course_id}
    )
    (video,) = await video_rows(svc, course_id)
    done = await learner_progress(svc, factory, batch, video, [(0, 4)])
    part = await learner_progress(svc, factory, batch, video, [(0, 1)])
    response, body = await upload(
        admin_client, videos["same"].read_bytes(), name="b.mp4", target={"video_id": video.id}
    )
    assert response.status_code == 200, body
    assert "进度全部保留" in body["message"]
    (replaced,) = await video_rows(svc, course_id)
    assert replaced.file != video.file
    assert not (svc.config.data_dir / "media" / video.file).exists()  # the old file went
    assert (await progress_of(svc, done.id, video.id)).completed_at is not None
    assert json.loads((await progress_of(svc, part.id, video.id)).segments) == [[0, 1000]]


async def test_replace__changed_duration_asks_first_then_keeps_completions_only(
    admin_client, svc, batch, factory, videos
):
    course_id = await create_course(admin_client, batch.id)
    await upload(
        admin_client, videos["good"].read_bytes(), name="a.mp4", target={"course_id": course_id}
    )
    (video,) = await video_rows(svc, course_id)
    done = await learner_progress(svc, factory, batch, video, [(0, 4)])
    part = await learner_progress(svc, factory, batch, video, [(0, 1)])
    response, body = await upload(
        admin_client, videos["longer"].read_bytes(), name="c.mp4", target={"video_id": video.id}
    )
    assert response.status_code == 409 and body["code"] == "confirm"
    assert "已看完该视频的 1 名学员保持“已完成”" in body["message"]
    assert "看了一部分的 1 名学员" in body["message"] and "清零" in body["message"]
    assert (await video_rows(svc, course_id))[0].duration_ms == video.duration_ms  # unchanged yet
    response, body = await upload(
        admin_client,
        videos["longer"].read_bytes(),
        name="c.mp4",
        target={"video_id": video.id},
        confirm=True,
    )
    assert response.status_code == 200, body
    (replaced,) = await video_rows(svc, course_id)
    assert 5900 <= replaced.duration_ms <= 6100
    finished = await progress_of(svc, done.id, video.id)
    assert finished.completed_at is not None and finished.watched_ms == replaced.duration_ms
    partial = await progress_of(svc, part.id, video.id)
    assert partial.watched_ms == 0 and partial.segments == "[]"


async def test_delete__a_course_learners_have_credit_in_is_refused(
    admin_client, svc, batch, factory, videos
):
    course_id = await create_course(admin_client, batch.id)
    await upload(
        admin_client, videos["good"].read_bytes(), name="a.mp4", target={"course_id": course_id}
    )
    (video,) = await video_rows(svc, course_id)
    await learner_progress(svc, factory, batch, video, [(0, 1)])
    response = await post(admin_client, f"/admin/courses/{course_id}/delete")
    assert response.status_code == 400
    assert "已有 1 名学员在该课程获得学习时长，不能删除；请改为“下架”" in field_error(
        await text(response), "delete"
    )
    response = await post(admin_client, f"/admin/videos/{video.id}/delete")
    assert response.status_code == 400 and "已有 1 名学员观看过该视频" in await text(response)
    assert len(await video_rows(svc, course_id)) == 1
    assert await audit_count(svc, "course.delete") == 0
    # Withdraw instead; then list it again.
    assert (await post(admin_client, f"/admin/courses/{course_id}/withdraw")).status_code == 302
    async with svc.db.read() as db:
        assert (await db.get(Course, course_id)).deadline == svc.now()
    bad = await post(
        admin_client,
        f"/admin/courses/{course_id}/relist",
        deadline=local(svc.now() - dt.timedelta(days=1)),
    )
    assert bad.status_code == 400 and "新的截止日期必须晚于现在" in field_error(
        await text(bad), "deadline"
    )
    assert (
        await post(admin_client, f"/admin/courses/{course_id}/relist", deadline="")
    ).status_code == 302
    async with svc.db.read() as db:
        assert (await db.get(Course, course_id)).deadline is None


async def test_delete__an_unstudied_course_goes_with_its_files(admin_client, svc, batch, videos):
    course_id = await create_course(admin_client, batch.id)
    await upload(
        admin_client, videos["good"].read_bytes(), name="a.mp4", target={"course_id": course_id}
    )
    (video,) = await video_rows(svc, course_id)
    response = await post(admin_client, f"/admin/courses/{course_id}/delete")
    assert response.status_code == 302
    async with svc.db.read() as db:
        assert await db.get(Course, course_id) is None
    assert not (svc.config.data_dir / "media" / video.file).exists()


async def test_copy__a_course_reused_in_another_batch_shares_files_not_progress(
    admin_client, svc, batch, factory, videos
):
    course_id = await create_course(admin_client, batch.id)
    await upload(
        admin_client, videos["good"].read_bytes(), name="a.mp4", target={"course_id": course_id}
    )
    (video,) = await video_rows(svc, course_id)
    await learner_progress(svc, factory, batch, video, [(0, 4)])
    second = await Factory(svc).batch("2026年第二期")
    response = await post(admin_client, f"/admin/courses/{course_id}/copy", batch_id=str(second.id))
    assert response.status_code == 302
    async with svc.db.read() as db:
        copy = await db.scalar(select(Course).where(Course.batch_id == second.id))
    assert copy.origin_id == course_id and copy.name == "安全生产法律法规"
    (copied_video,) = await video_rows(svc, copy.id)
    assert copied_video.file == video.file and copied_video.id != video.id
    page = plain(await text(await admin_client.get(f"/admin/courses/{copy.id}")))
    assert batch.name in page and "2026年第二期（本课程）" in page
    again = await post(admin_client, f"/admin/courses/{course_id}/copy", batch_id=str(second.id))
    assert again.status_code == 400 and "已经使用该课程" in field_error(
        await text(again), "batch_id"
    )
    # Deleting the copy (nobody studied it there) keeps the file the original still uses.
    assert (await post(admin_client, f"/admin/courses/{copy.id}/delete")).status_code == 302
    assert (svc.config.data_dir / "media" / video.file).exists()
