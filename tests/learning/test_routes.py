"""我的课程, the video page, video files with Range, material downloads, HTTP fallback."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import pytest

from app.learning.models import CourseKind
from tests.factories import csrf_of, login
from tests.learning.conftest import SAMPLE_VIDEO, Player, challenge_code, flush

PASSWORD = "Str0ng-Pass!"


async def logged_in(client, svc, user):
    response = await login(client, svc, user.id_number, PASSWORD)
    assert response.status_code == 302
    return client


async def page(client, url) -> str:
    response = await client.get(url)
    assert response.status_code == 200, url
    return await response.get_data(as_text=True)


async def test_courses__shows_requirements_table_and_tips(client, svc, learning):
    cat = await learning.batch(required_minutes=4, required_public_minutes=2)
    user = await learning.learner(cat.batch.id)
    await logged_in(client, svc, user)

    html = await page(client, "/courses")

    assert cat.batch.name in html
    assert "应学习总时长：<strong>4分钟</strong>" in html
    assert "公共课应学习时长：<strong>2分钟</strong>" in html
    assert "0 / 10 天" in html
    for header in (
        "课程名称",
        "主讲人",
        "课程类型",
        "课程时间(分钟)",
        "视频个数",
        "学习进度",
        "状态",
        "操作",
    ):
        assert re.search(rf"<th[^>]*>{re.escape(header)}</th>", html), header
    assert html.count("未开始") == 3 and html.count("开始学习") == 3
    assert "友情提示" in html and "课程可重复学习，但不会重复累计学习时长" in html
    assert "尚未完成的必修课：《公共课一》" in html


async def test_courses__progress_and_status_follow_credit(client, svc, learning):
    from app.learning import credit

    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    async with svc.db.write() as db:
        video = cat.videos[cat.courses[2].id][0]
        await credit.record_watched(
            session=db, user_id=user.id, video_id=video.id, start_s=0, end_s=60, at=svc.now()
        )
        video = cat.videos[cat.courses[1].id][0]
        await credit.record_watched(
            session=db, user_id=user.id, video_id=video.id, start_s=0, end_s=30, at=svc.now()
        )
    await logged_in(client, svc, user)

    html = await page(client, "/courses")

    assert "已完成" in html and "学习中" in html and "再次学习" in html and "继续学习" in html
    assert "25%" in html  # 30 of 120 s
    assert "已学 1 分钟" in html and "1 / 10 天" in html


async def test_courses__withdrawn_course_is_not_listed(client, svc, learning, clock):
    cat = await learning.batch(
        courses=[
            ("已下架课程", CourseKind.PUBLIC, False, [60], svc.now() - dt.timedelta(days=1)),
            ("正常课程", CourseKind.PUBLIC, False, [60], None),
        ]
    )
    user = await learning.learner(cat.batch.id)
    await logged_in(client, svc, user)

    html = await page(client, "/courses")

    assert "正常课程" in html and "已下架课程" not in html


async def test_courses__learner_without_batch_sees_a_note(client, svc, factory):
    user = await factory.user()
    await logged_in(client, svc, user)

    html = await page(client, "/courses")

    assert "您尚未报名任何培训批次" in html


async def test_courses__other_batch_id_is_refused(client, svc, learning):
    cat = await learning.batch()
    other = await learning.batch(name="别的批次")
    user = await learning.learner(cat.batch.id)
    await logged_in(client, svc, user)

    response = await client.get(f"/courses?batch={other.batch.id}")

    assert response.status_code == 404
    assert "您未报名该培训批次" in await response.get_data(as_text=True)


async def test_courses__anonymous_goes_to_login_and_admin_is_forbidden(client, svc, factory):
    anonymous = await client.get("/courses")
    admin = await factory.user(roles=("admin",))
    await logged_in(client, svc, admin)
    forbidden = await client.get("/courses")

    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert forbidden.status_code == 403


async def test_materials__tab_lists_and_download_streams_the_zip(client, svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    item = await learning.material(cat.batch.id)
    await logged_in(client, svc, user)

    html = await page(client, "/courses?tab=materials")
    response = await client.get(f"/courses/materials/{item.id}")
    body = await response.get_data()

    assert "公共课教材" in html and "zip" in html and "总记录数为 1 条" in html
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["提纲.txt"]


async def test_materials__not_enrolled_or_withdrawn_is_refused(client, svc, learning, clock):
    cat = await learning.batch(
        courses=[("限期课", CourseKind.PUBLIC, False, [60], svc.now() + dt.timedelta(hours=1))]
    )
    owner = await learning.learner(cat.batch.id)
    batch_item = await learning.material(cat.batch.id)
    course_item = await learning.material(
        cat.batch.id, kind=CourseKind.PROFESSIONAL, course_id=cat.courses[0].id
    )
    stranger = await learning.factory.user()
    await logged_in(client, svc, stranger)
    foreign = await client.get(f"/courses/materials/{batch_item.id}")
    await client.post("/logout", form={"csrf_token": await csrf_of(client)})
    await logged_in(client, svc, owner)
    clock.advance(hours=1)
    withdrawn = await client.get(f"/courses/materials/{course_item.id}")
    missing = await client.get("/courses/materials/999999")
    listing = await page(client, "/courses?tab=materials")

    assert foreign.status_code == 403
    assert withdrawn.status_code == 410
    assert missing.status_code == 404
    assert "专业课教材" not in listing


async def test_video_page__player_list_and_rules(client, svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    first, second = cat.videos[cat.courses[0].id]
    await logged_in(client, svc, user)

    html = await page(client, f"/courses/video/{first.id}")

    assert f'src="/courses/video/{first.id}/file"' in html
    assert "视频目录" in html and "01:00" in html
    assert second.title in html
    assert "必修课为必学" in html
    assert 'data-interval="15.0"' in html and 'data-resume="0.0"' in html
    # The attention check's dialog is in the page, its code is not.
    assert 'id="attention"' in html and 'id="attention-img"' in html


async def test_video_page__resumes_where_the_latest_credit_ended_before_it_is_written(
    client, svc, learning, clock
):
    # Acknowledged credit reaches the database a flusher cycle later (none runs here): a
    # page opened meanwhile (a second tab, a reload) must not start where an older credit
    # ended, or its beats would move the learner's place back.
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    first, _ = cat.videos[cat.courses[0].id]
    await logged_in(client, svc, user)
    player = Player(svc, clock, user, first.id)
    await player.start()
    await player.play(15)
    await player.play(15)

    assert 'data-resume="30.0"' in await page(client, f"/courses/video/{first.id}")
    await flush(svc)
    assert 'data-resume="30.0"' in await page(client, f"/courses/video/{first.id}")


async def test_video_page__the_notice_is_written_from_the_batch(client, svc, learning):
    tier = await learning.batch(
        name="三十二学时批次",
        required_minutes=1280,
        required_public_minutes=400,
        min_study_days=12,
        attention_min_minutes=15,
        attention_max_minutes=25,
    )
    odd = await learning.batch(
        name="无验证批次", required_minutes=100, required_public_minutes=30, attention_checks=False
    )
    user = await learning.learner(tier.batch.id)
    await learning.factory.enrol(user.id, odd.batch.id)
    await logged_in(client, svc, user)

    tier_html = await page(client, f"/courses/video/{tier.videos[tier.courses[0].id][0].id}")
    odd_html = await page(client, f"/courses/video/{odd.videos[odd.courses[0].id][0].id}")

    assert "应学习总时长不少于 1280 分钟（32 学时），其中公共课不少于 400 分钟" in tier_html
    assert "学习天数不少于 12 天" in tier_html
    assert "约每 15–25 分钟" in tier_html and "请在 60 秒内输入" in tier_html
    assert "应学习总时长不少于 100 分钟，其中公共课不少于 30 分钟" in odd_html
    odd_rules = odd_html.split('id="rules"')[1].split("</section>")[0]
    assert "学时）" not in odd_rules and "验证码" not in odd_rules
    for html in (tier_html, odd_html):
        assert "640分钟" not in html and "十天" not in html


async def test_video_page__not_enrolled_withdrawn_and_missing(client, svc, learning, clock):
    cat = await learning.batch(
        courses=[("限期课", CourseKind.PUBLIC, False, [60], svc.now() + dt.timedelta(hours=1))]
    )
    video = cat.videos[cat.courses[0].id][0]
    stranger = await learning.factory.user()
    await logged_in(client, svc, stranger)
    foreign = await client.get(f"/courses/video/{video.id}")
    foreign_file = await client.get(f"/courses/video/{video.id}/file")
    await learning.factory.enrol(stranger.id, cat.batch.id)
    clock.advance(hours=1)
    withdrawn = await client.get(f"/courses/video/{video.id}")
    missing = await client.get("/courses/video/999999")

    assert foreign.status_code == 403 and "您未报名" in await foreign.get_data(as_text=True)
    assert foreign_file.status_code == 403
    assert withdrawn.status_code == 410 and "已下架" in await withdrawn.get_data(as_text=True)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("header", "status", "first", "last"),
    [
        (None, 200, 0, None),
        ("bytes=0-99", 206, 0, 99),
        ("bytes=100-", 206, 100, None),
        ("bytes=-200", 206, -200, None),
        ("bytes=10-999999999", 206, 10, None),
    ],
)
async def test_video_file__serves_byte_ranges(client, svc, learning, header, status, first, last):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    await logged_in(client, svc, user)
    data = SAMPLE_VIDEO.read_bytes()
    size = len(data)

    response = await client.get(
        f"/courses/video/{video.id}/file", headers={"Range": header} if header else {}
    )
    body = await response.get_data()

    expected = data[first : None if last is None else last + 1]
    assert response.status_code == status
    assert body == expected
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "video/mp4"
    assert int(response.headers["Content-Length"]) == len(expected)
    if status == 206:
        begin = size - 200 if first < 0 else first
        assert response.headers["Content-Range"] == f"bytes {begin}-{begin + len(body) - 1}/{size}"


async def test_video_file__unsatisfiable_range_is_416(client, svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    await logged_in(client, svc, user)
    size = SAMPLE_VIDEO.stat().st_size

    response = await client.get(
        f"/courses/video/{video.id}/file", headers={"Range": f"bytes={size}-"}
    )

    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"


async def test_api_study__start_beat_stop_over_http(client, svc, learning, clock):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    await logged_in(client, svc, user)
    headers = {"X-CSRF-Token": await csrf_of(client)}

    started = await (
        await client.post("/api/study/start", json={"video_id": video.id}, headers=headers)
    ).get_json()
    clock.advance(seconds=15)
    beat = {"token": started["token"], "seq": 1, "position": 15, "reason": "tick"}
    credited = await client.post("/api/study/beat", json=beat, headers=headers)
    replay = await client.post("/api/study/beat", json=beat, headers=headers)
    stopped = await client.post(
        "/api/study/stop", json={"token": started["token"]}, headers=headers
    )
    after = await client.post(
        "/api/study/beat", json={**beat, "seq": 2, "position": 30}, headers=headers
    )

    assert started["ok"] and started["duration_s"] == 60 and started["interval_s"] == 15
    assert (await credited.get_json())["credited_s"] == 15
    assert replay.status_code == 409 and (await replay.get_json())["code"] == "stale_beat"
    assert (await stopped.get_json()) == {"ok": True}
    assert after.status_code == 409 and (await after.get_json())["code"] == "play_expired"


async def test_api_study__needs_csrf_login_and_json(client, svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    anonymous = await client.post("/api/study/beat", json={})
    await logged_in(client, svc, user)
    no_csrf = await client.post("/api/study/beat", json={})
    headers = {"X-CSRF-Token": await csrf_of(client)}
    not_json = await client.post("/api/study/start", data="video", headers=headers)
    bad_video = await client.post("/api/study/start", json={"video_id": "x"}, headers=headers)

    assert anonymous.status_code == 400  # no session: the CSRF check refuses first
    assert no_csrf.status_code == 400 and (await no_csrf.get_json())["code"] == "csrf"
    assert not_json.status_code == 400 and (await not_json.get_json())["message"]
    assert bad_video.status_code == 400
    assert "视频编号" in (await bad_video.get_json())["message"]


async def test_api_study__attention_check_over_http_with_its_image(
    app, client, svc, learning, clock
):
    cat = await learning.batch(
        courses=[("长课程", CourseKind.PUBLIC, True, [3600], None)],
        attention_min_minutes=1,
        attention_max_minutes=1,
    )
    user = await learning.learner(cat.batch.id)
    other = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    await logged_in(client, svc, user)
    headers = {"X-CSRF-Token": await csrf_of(client)}
    started = await (
        await client.post("/api/study/start", json={"video_id": video.id}, headers=headers)
    ).get_json()
    token = started["token"]
    replies = []
    for seq in range(1, 6):
        clock.advance(seconds=15)
        beat = {"token": token, "seq": seq, "position": 15 * seq, "reason": "tick"}
        replies.append(
            await (await client.post("/api/study/beat", json=beat, headers=headers)).get_json()
        )
    challenge = replies[3]["challenge"]
    code = await challenge_code(svc, challenge["nonce"])

    image = await client.get(challenge["image"])
    stranger = app.test_client()
    await logged_in(stranger, svc, other)
    foreign = await stranger.get(challenge["image"])
    wrong = await client.post(
        "/api/study/answer",
        json={"token": token, "nonce": challenge["nonce"], "code": "0000"},
        headers=headers,
    )
    fresh = (await wrong.get_json())["challenge"]
    right = await client.post(
        "/api/study/answer",
        json={
            "token": token,
            "nonce": fresh["nonce"],
            "code": await challenge_code(svc, fresh["nonce"]),
        },
        headers=headers,
    )
    gone = await client.get(fresh["image"])

    assert [("challenge" in r, r["credited_s"]) for r in replies] == [
        (False, 15), (False, 15), (False, 15), (True, 15), (True, 0)
    ]  # fmt: skip
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.headers["Cache-Control"] == "private, no-store"
    assert (await image.get_data())[:8] == b"\x89PNG\r\n\x1a\n"
    assert code.encode() not in await image.get_data()
    assert foreign.status_code == 404 and (await foreign.get_json())["message"]
    assert (await wrong.get_json())["note"] == "attention_wrong"
    assert right.status_code == 200 and (await right.get_json())["passed"] is True
    assert gone.status_code == 404


async def test_api_study__late_or_foreign_answers_are_refused_over_http(
    client, svc, learning, clock
):
    cat = await learning.batch(
        courses=[("长课程", CourseKind.PUBLIC, True, [3600], None)],
        attention_min_minutes=1,
        attention_max_minutes=1,
    )
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    await logged_in(client, svc, user)
    headers = {"X-CSRF-Token": await csrf_of(client)}
    start = {"video_id": video.id}
    token = (await (await client.post("/api/study/start", json=start, headers=headers)).get_json())[
        "token"
    ]
    for seq in range(1, 5):
        clock.advance(seconds=15)
        beat = {"token": token, "seq": seq, "position": 15 * seq, "reason": "tick"}
        reply = await (await client.post("/api/study/beat", json=beat, headers=headers)).get_json()
    nonce = reply["challenge"]["nonce"]
    code = await challenge_code(svc, nonce)
    clock.advance(seconds=61)
    late = await client.post(
        "/api/study/answer", json={"token": token, "nonce": nonce, "code": code}, headers=headers
    )
    started = await client.post("/api/study/start", json=start, headers=headers)
    other = (await started.get_json())["token"]
    foreign = await client.post(
        "/api/study/answer", json={"token": other, "nonce": nonce, "code": code}, headers=headers
    )

    assert late.status_code == 410 and (await late.get_json())["code"] == "attention_expired"
    assert foreign.status_code == 409 and (await foreign.get_json())["code"] == "attention_unknown"
