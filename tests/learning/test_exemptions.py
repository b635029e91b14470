"""A learner who cannot read an image code is not shut out: an admin excuses them from
attention checks on their 学员档案 page (with a reason, in the audit log), at once even
for the video playing now, and can let the checks apply again."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.audit import service as audit
from app.audit.models import AuditEntry
from app.errors import NotFound
from app.learning import answers
from tests.admin.conftest import PASSWORD
from tests.admin.helpers import field_error, post, text
from tests.factories import login
from tests.learning.conftest import Player
from tests.learning.test_attention import BEAT, play_until_challenge
from tests.learning.test_study import watched_ms


@pytest.fixture
async def admin_client(app, svc, factory):
    admin = await factory.user(roles=("admin",), name="王管理", password=PASSWORD)
    client = app.test_client()
    assert (await login(client, svc, admin.id_number, PASSWORD)).status_code == 302
    return client


async def audit_entries(svc) -> list[tuple[str, str]]:
    async with svc.db.read() as db:
        rows = await db.execute(
            select(AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id)
        )
    return [tuple(r) for r in rows]


async def test_exempt__the_learner_studies_without_checks_from_the_next_beat(
    svc, clock, long_video, admin_client
):
    user, video_id = await long_video()
    p = Player(svc, clock, user, video_id)
    await p.start()
    reply, credited = await play_until_challenge(p)
    nonce = reply["challenge"]["nonce"]
    held = await p.play(BEAT)

    done = await post(
        admin_client,
        f"/admin/learners/{user.id}/attention",
        exempt="1",
        reason=" 视力障碍，使用读屏软件 ",
    )
    page = await text(await admin_client.get(done.headers["Location"]))
    # The page playing now goes on without the check (its held credit was the check's).
    after = [await p.play(BEAT) for _ in range(4 * 25)]
    await p.start()  # and so does every later session
    later = [await p.play(BEAT) for _ in range(4 * 25)]

    assert held["held_s"] == BEAT and done.status_code == 302
    assert "已免除该学员的防挂机验证，立即生效" in page
    assert (
        "已免除" in page and "视力障碍，使用读屏软件" in page and 'id="attention-restore"' in page
    )
    assert all(r["credited_s"] == BEAT and "challenge" not in r for r in after + later)
    assert await watched_ms(svc, user.id, video_id) == (credited + 200 * BEAT) * 1000
    assert [k async for k in svc.redis.scan_iter("study:challenge:*")] == []
    with pytest.raises(NotFound):
        await answers.challenge_image(redis=svc.redis, user_id=user.id, nonce=nonce)
    assert await audit_entries(svc) == [
        ("learner.attention_exempt", "免除防挂机验证，原因：视力障碍，使用读屏软件")
    ]
    assert audit.label("learner.attention_exempt") == "免除防挂机验证"
    assert "免除防挂机验证" in page  # the page's 管理操作记录


async def test_exempt__restored_checks_apply_from_the_next_session(
    svc, clock, long_video, admin_client
):
    user, video_id = await long_video(attention_min_minutes=10, attention_max_minutes=10)
    await post(admin_client, f"/admin/learners/{user.id}/attention", exempt="1", reason="读屏软件")
    p = Player(svc, clock, user, video_id)
    await p.start()
    exempt = [await p.play(BEAT) for _ in range(4 * 15)]

    restored = await post(admin_client, f"/admin/learners/{user.id}/attention", exempt="0")
    same_session = [await p.play(BEAT) for _ in range(4)]
    await p.start()
    reply, _ = await play_until_challenge(p, limit_s=11 * 60)
    page = await text(await admin_client.get(restored.headers["Location"]))

    assert not any("challenge" in r for r in exempt + same_session)
    assert "challenge" in reply
    assert "已恢复该学员的防挂机验证" in page and 'id="attention-exempt"' in page
    assert [a for a, _ in await audit_entries(svc)] == [
        "learner.attention_exempt",
        "learner.attention_restore",
    ]


@pytest.mark.parametrize(
    ("form", "where", "message"),
    [
        ({"exempt": "1", "reason": "  "}, "reason", "请填写免除原因"),
        ({"exempt": "1", "reason": "长" * 201}, "reason", "免除原因不能超过 200 个字"),
        ({"exempt": "0"}, "error", "该学员未免除防挂机验证，无需恢复"),
    ],
)
async def test_exempt__bad_requests_say_why_on_the_page_and_change_nothing(
    svc, factory, admin_client, form, where, message
):
    user = await factory.user()

    response = await post(admin_client, f"/admin/learners/{user.id}/attention", **form)
    page = await text(response)

    assert response.status_code == 400
    shown = field_error(page, "reason") if where == "reason" else page
    assert message in (shown or "")
    assert await audit_entries(svc) == []


async def test_exempt__twice_is_refused_and_an_unknown_learner_is_404(svc, factory, admin_client):
    user = await factory.user()
    await post(admin_client, f"/admin/learners/{user.id}/attention", exempt="1", reason="读屏软件")

    again = await post(
        admin_client, f"/admin/learners/{user.id}/attention", exempt="1", reason="读屏软件"
    )
    unknown = await post(admin_client, "/admin/learners/999999/attention", exempt="1", reason="x")

    assert again.status_code == 400 and "该学员已免除防挂机验证" in await text(again)
    assert unknown.status_code == 404
    assert len(await audit_entries(svc)) == 1


async def test_exempt__the_video_page_no_longer_announces_checks(
    app, svc, clock, long_video, admin_client
):
    user, video_id = await long_video()
    learner = app.test_client()
    assert (await login(learner, svc, user.id_number, "Str0ng-Pass!")).status_code == 302
    before = await text(await learner.get(f"/courses/video/{video_id}"))
    await post(admin_client, f"/admin/learners/{user.id}/attention", exempt="1", reason="读屏软件")
    after = await text(await learner.get(f"/courses/video/{video_id}"))

    assert "暂停视频并显示验证码" in before and "连续 3 次输入错误将暂停计时 5 分钟" in before
    assert "暂停视频并显示验证码" not in after
