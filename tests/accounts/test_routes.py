import datetime as dt
import json
from urllib.parse import unquote

import pytest
from werkzeug.datastructures import Headers

from app.accounts import sessions, tour
from app.accounts.models import index_of
from tests.factories import (
    CSRF,
    captcha_answer,
    csrf_of,
    login,
    login_form,
    new_id_number,
    session_cookie,
)

PASSWORD = "Str0ng-Pass!"


async def _page(response) -> str:
    return await response.get_data(as_text=True)


async def test_login__right_credentials_start_a_session(client, svc, factory):
    user = await factory.user()
    response = await login(client, svc, user.id_number, PASSWORD)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP in tests
    profile = await client.get("/profile")
    assert profile.status_code == 200
    assert user.name in await _page(profile)


async def test_login__session_token_rotates_at_login(client, svc, factory):
    user = await factory.user()
    await client.get("/login")
    before = session_cookie(client)
    await login(client, svc, user.id_number, PASSWORD)
    after = session_cookie(client)
    assert before and after and before != after
    assert await sessions.load(svc.redis, before) is None


async def test_login__lowercase_x_is_accepted(client, svc, factory):
    from app.accounts import idcard

    first17 = next(
        f"11010119800101{n:03d}"
        for n in range(1000)
        if idcard.check_digit(f"11010119800101{n:03d}") == "X"
    )
    user = await factory.user(id_number=first17 + "X")
    response = await login(client, svc, user.id_number.lower(), PASSWORD)
    assert response.status_code == 302


async def test_login__wrong_captcha_is_refused_and_captcha_is_used_up(client, svc, factory):
    user = await factory.user()
    form = await login_form(client, svc)
    right = form["captcha"]
    form.update(
        username=user.id_number, password=PASSWORD, captcha="ZZZZ" if right != "ZZZZ" else "YYYY"
    )
    response = await client.post("/login", form=form)
    assert response.status_code == 400
    assert "验证码错误" in await _page(response)
    form["captcha"] = right  # the same captcha cannot be tried again
    response = await client.post("/login", form=form)
    assert "验证码已失效" in await _page(response)


async def test_login__reused_captcha_is_refused(client, svc, factory):
    user = await factory.user()
    form = await login_form(client, svc)
    form.update(username=user.id_number, password=PASSWORD)
    assert (await client.post("/login", form=form)).status_code == 302
    await client.post("/logout", form={"csrf_token": await csrf_of(client)})
    page = await _page(await client.get("/login"))
    form["csrf_token"] = CSRF.search(page).group(1)
    response = await client.post("/login", form=form)
    assert "验证码已失效" in await _page(response)


async def test_login__expired_captcha_is_refused(client, svc, factory, clock):
    user = await factory.user()
    form = await login_form(client, svc)
    clock.advance(minutes=5, seconds=1)
    form.update(username=user.id_number, password=PASSWORD)
    response = await client.post("/login", form=form)
    assert "验证码已过期" in await _page(response)


async def test_login__malformed_id_number_says_so(client, svc):
    response = await login(client, svc, "12345", "whatever")
    assert response.status_code == 400
    assert "身份证号应为18位" in await _page(response)


async def test_login__bad_checksum_says_so(client, svc, factory):
    user = await factory.user()
    bad = user.id_number[:17] + ("0" if user.id_number[17] != "0" else "1")
    response = await login(client, svc, bad, PASSWORD)
    assert "校验位不正确" in await _page(response)


async def test_login__wrong_password_and_unknown_account_say_the_same(client, svc, factory):
    user = await factory.user()
    wrong = await _page(await login(client, svc, user.id_number, "Wrong-Pass-1"))
    from tests.factories import new_id_number

    unknown = await _page(await login(client, svc, new_id_number(), "Wrong-Pass-1"))
    assert "身份证号或密码错误" in wrong
    assert "身份证号或密码错误" in unknown


async def test_login__failures_slow_down_then_lock_the_account(client, svc, factory, clock):
    user = await factory.user()
    for _ in range(svc.config.login_slow_after):
        await login(client, svc, user.id_number, "Wrong-Pass-1")
    response = await login(client, svc, user.id_number, PASSWORD)
    assert response.status_code == 429
    assert "秒后再试" in await _page(response)
    for _ in range(svc.config.login_lock_after - svc.config.login_slow_after):
        clock.advance(seconds=61)
        await login(client, svc, user.id_number, "Wrong-Pass-1")
    clock.advance(seconds=61)
    response = await login(client, svc, user.id_number, PASSWORD)  # even the right password
    assert response.status_code == 429
    assert "账号已暂时锁定" in await _page(response)
    clock.advance(minutes=svc.config.login_lock_minutes, seconds=1)
    assert (await login(client, svc, user.id_number, PASSWORD)).status_code == 302


async def test_login__unknown_account_is_locked_the_same_way(client, svc, clock):
    from tests.factories import new_id_number

    ghost = new_id_number()
    for _ in range(svc.config.login_lock_after):
        clock.advance(seconds=61)
        await login(client, svc, ghost, "Wrong-Pass-1")
    clock.advance(seconds=61)
    response = await login(client, svc, ghost, "Wrong-Pass-1")
    assert "账号已暂时锁定" in await _page(response)


async def test_login__one_ip_failing_on_many_accounts_is_locked(client, svc, clock):
    from tests.factories import new_id_number

    for _ in range(svc.config.login_ip_lock_after):
        await login(client, svc, new_id_number(), "Wrong-Pass-1")
    response = await login(client, svc, new_id_number(), "Wrong-Pass-1")
    assert response.status_code == 429
    assert "分钟后再试" in await _page(response)


async def test_login__success_clears_the_account_counter(client, svc, factory, clock):
    user = await factory.user()
    for _ in range(svc.config.login_slow_after - 1):
        await login(client, svc, user.id_number, "Wrong-Pass-1")
    assert (await login(client, svc, user.id_number, PASSWORD)).status_code == 302
    assert not await svc.redis.exists(f"loginfail:acct:{index_of(user.id_number)}")


async def test_login__without_csrf_token_is_refused(client, svc, factory):
    user = await factory.user()
    form = await login_form(client, svc)
    form.update(username=user.id_number, password=PASSWORD, csrf_token="forged")
    response = await client.post("/login", form=form)
    assert response.status_code == 400
    assert "页面已过期" in await _page(response)


async def test_first_login__only_password_change_is_reachable(client, svc, factory):
    user = await factory.user(password=None)
    response = await login(client, svc, user.id_number, user.id_number[-6:])
    assert response.headers["Location"].endswith("/password")
    blocked = await client.get("/profile")
    assert blocked.status_code == 302 and blocked.headers["Location"].endswith("/password")
    api = await client.post(
        "/api/profile/phone/code",
        json={"phone": "13800138000"},
        headers={"X-CSRF-Token": await csrf_of(client)},
    )
    assert api.status_code == 403
    assert (await api.get_json())["code"] == "must_change_password"
    page = await _page(await client.get("/password"))
    assert "首次登录请先修改初始密码" in page
    assert "我的资料" not in page  # no navigation before the change


async def test_first_login__changing_the_password_opens_the_site(client, svc, factory):
    user = await factory.user(password=None)
    await login(client, svc, user.id_number, user.id_number[-6:])
    response = await client.post(
        "/password",
        form={
            "csrf_token": await csrf_of(client),
            "old_password": user.id_number[-6:],
            "new_password": "Anquan-Xuexi-88",
            "confirm_password": "Anquan-Xuexi-88",
        },
    )
    assert response.status_code == 302
    assert (await client.get("/profile")).status_code == 200


async def test_change_password__rule_violations_change_nothing(client, svc, factory):
    user = await factory.user(password=None)
    await login(client, svc, user.id_number, user.id_number[-6:])
    cases = [
        ("wrong-old", "Anquan-Xuexi-88", "Anquan-Xuexi-88", "原密码不正确"),
        (user.id_number[-6:], "short", "short", "至少需要 8 个字符"),
        (user.id_number[-6:], "12345678", "12345678", "过于常见"),
        (
            user.id_number[-6:],
            f"Ab{user.id_number[-6:]}!",
            f"Ab{user.id_number[-6:]}!",
            "身份证号后六位",
        ),
        (user.id_number[-6:], "Anquan-Xuexi-88", "Anquan-Xuexi-89", "不一致"),
    ]
    for old, new, confirm, message in cases:
        response = await client.post(
            "/password",
            form={
                "csrf_token": await csrf_of(client),
                "old_password": old,
                "new_password": new,
                "confirm_password": confirm,
            },
        )
        assert response.status_code == 400
        assert message in await _page(response)
    assert (await client.get("/profile")).status_code == 302  # still gated


async def test_change_password__ends_every_other_session(app, svc, factory):
    user = await factory.user()
    first, second = app.test_client(), app.test_client()
    await login(first, svc, user.id_number, PASSWORD)
    await login(second, svc, user.id_number, PASSWORD)
    await first.post(
        "/password",
        form={
            "csrf_token": await csrf_of(first),
            "old_password": PASSWORD,
            "new_password": "Anquan-Xuexi-88",
            "confirm_password": "Anquan-Xuexi-88",
        },
    )
    assert (await first.get("/profile")).status_code == 200
    assert (await second.get("/profile")).headers["Location"].startswith("/login")


async def test_logout__revokes_the_session(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)
    token = session_cookie(client)
    await client.post("/logout", form={"csrf_token": await csrf_of(client)})
    assert await sessions.load(svc.redis, token) is None
    assert (await client.get("/profile")).status_code == 302


async def test_initial_password__expires_when_unused(client, svc, factory, clock):
    user = await factory.user(password=None)
    clock.advance(days=svc.config.initial_password_days + 1)
    response = await login(client, svc, user.id_number, user.id_number[-6:])
    assert response.status_code == 403
    assert "联系管理员重新发放" in await _page(response)


async def test_captcha__refresh_gives_a_new_image_and_answer(client, svc):
    data = await (await client.get("/captcha")).get_json()
    assert data["image"].startswith("data:image/png;base64,")
    assert len(await captcha_answer(svc.redis, data["id"])) == 4
    stored = json.loads(await svc.redis.get(f"captcha:{data['id']}"))
    assert stored["issued"] == svc.now().timestamp()


async def test_learner__reaching_an_admin_page_gets_403(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)
    response = await client.get("/admin")
    assert response.status_code == 403
    assert "没有权限" in await _page(response)


async def test_admin__reaches_the_admin_page(client, svc, factory):
    user = await factory.user(roles=("admin",))
    await login(client, svc, user.id_number, PASSWORD)
    assert (await client.get("/admin")).status_code == 200


async def test_deactivated_user__session_stops_working(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)
    async with svc.db.write() as db:
        (await db.get(type(user), user.id)).is_active = False
    assert (await client.get("/profile")).status_code == 302


async def test_session__expires_after_idle_time(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)
    token = session_cookie(client)
    ttl = await svc.redis.ttl(f"sess:{token}")
    assert 0 < ttl <= svc.config.session_idle_minutes * 60
    assert dt.timedelta(seconds=ttl) > dt.timedelta(minutes=svc.config.session_idle_minutes - 1)


async def test_cookie__is_secure_when_served_over_https(client):
    response = await client.get("/login", scheme="https")
    assert "Secure" in response.headers["Set-Cookie"]


async def test_tour__shown_until_dismissed_then_never_again(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)
    assert 'id="tour"' in await _page(await client.get("/profile"))
    response = await client.post(
        "/api/tour/done", json={}, headers={"X-CSRF-Token": await csrf_of(client)}
    )
    assert response.status_code == 200
    page = await _page(await client.get("/profile"))
    assert 'id="tour"' not in page and 'id="tour-unsaved"' not in page


async def test_tour__dismissed_in_this_browser_is_hidden_before_it_is_recorded(
    client, svc, factory
):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)
    # The page sets this cookie as the learner dismisses the tour, before its request lands.
    client.set_cookie("localhost", tour.COOKIE, str(user.id))
    page = await _page(await client.get("/profile"))
    assert 'id="tour"' not in page
    assert 'id="tour-unsaved"' in page  # the page sends the record again


async def test_tour__someone_elses_dismissal_does_not_hide_it(client, svc, factory):
    other = await factory.user()
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)
    client.set_cookie("localhost", tour.COOKIE, str(other.id))
    assert 'id="tour"' in await _page(await client.get("/profile"))


async def test_landing__each_role_lands_on_its_own_work_page(app, client, svc, factory):
    pages = app.view_functions

    async def lands(*roles) -> str:
        user = await factory.user(roles=roles)
        response = await login(app.test_client(), svc, user.id_number, PASSWORD)
        return response.headers["Location"]

    assert await lands("learner") == "/profile"
    assert await lands("learner", "admin") == "/profile"
    assert await lands("admin") == "/admin"
    assert await lands("invigilator") == (
        "/invigilate" if "invigilate.index" in pages else "/profile"
    )
    assert await lands("reviewer") == ("/review" if "review.queue" in pages else "/profile")


async def test_tour__a_new_admin_gets_a_staff_tour_on_the_work_page(client, svc, factory):
    user = await factory.user(roles=("admin",))
    await login(client, svc, user.id_number, PASSWORD)

    admin = await _page(await client.get("/admin"))
    profile = await _page(await client.get("/profile"))

    assert 'id="tour"' in admin and "管理培训批次、课程与视频" in admin
    assert "证件照" not in admin and "#tour-profile" not in admin
    assert 'id="tour"' not in profile  # only on the landing page
    assert "照片上传" not in profile  # staff are not asked for an ID photo


async def test_tour__a_new_learner_gets_the_learner_tour_on_the_profile(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)

    profile = await _page(await client.get("/profile"))

    assert 'id="tour"' in profile and 'data-target="#tour-profile"' in profile
    assert "随后开放" not in profile
    assert "在【我的课程】中观看课程视频" in profile and "【我的证书】下载打印" in profile
    assert "照片上传" in profile


async def test_navigation__lists_my_certificates_and_marks_one_tab(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)

    records = await _page(await client.get("/exams/records"))
    nav = records.split('id="tour-nav"')[1].split("</nav>")[0]

    assert '<a href="/certificates">我的证书</a>' in nav
    assert nav.count('class="active"') == 1
    assert '<a href="/exams/records" class="active" aria-current="page">考试记录</a>' in nav


async def test_login_page__offers_to_remember_the_id_number_only(client):
    page = await _page(await client.get("/login"))

    assert 'id="remember-id"' in page and "记住我的登录信息" in page
    assert "不保存密码" in page and 'id="forget-id"' in page
    assert "<script>" not in page and "onclick" not in page


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example/",
        "/%0a/evil.example/",
        "/%0d%0a/evil.example/",
        "//evil.example/",
        "/%5Cevil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
        "%20/evil.example/",
        "/%7F/evil.example/",
    ],
)
async def test_login__next_leading_off_the_site_is_ignored(client, svc, factory, target):
    user = await factory.user()
    page = await _page(await client.get(f"/login?next={target}"))
    assert "evil.example" not in page and "javascript" not in page
    form = await login_form(client, svc)
    form.update(username=user.id_number, password=PASSWORD, next=unquote(target))
    response = await client.post("/login", form=form)
    assert response.status_code == 302
    assert response.headers["Location"] == "/profile"


async def test_login__next_within_the_site_is_followed(client, svc, factory):
    user = await factory.user()
    page = await _page(await client.get("/login?next=/exams/records%3Fpage%3D2"))
    assert 'value="/exams/records?page=2"' in page
    response = await login(client, svc, user.id_number, PASSWORD, next="/exams/records?page=2")
    assert response.headers["Location"] == "/exams/records?page=2"


async def _change(client, old: str, new: str = "Anquan-Xuexi-88"):
    return await client.post(
        "/password",
        form={
            "csrf_token": await csrf_of(client),
            "old_password": old,
            "new_password": new,
            "confirm_password": new,
        },
    )


async def test_change_password__guessing_the_old_one_slows_down_then_locks(
    client, svc, factory, clock
):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)
    for _ in range(svc.config.login_slow_after):
        assert (await _change(client, "Guess-Pass-1")).status_code == 400
    response = await _change(client, PASSWORD)
    assert response.status_code == 429
    assert "原密码验证尝试过于频繁" in await _page(response)
    for _ in range(svc.config.login_lock_after - svc.config.login_slow_after):
        clock.advance(seconds=61)
        await _change(client, "Guess-Pass-1")
    clock.advance(seconds=61)
    response = await _change(client, PASSWORD)  # even the right one
    assert response.status_code == 429
    assert "账号已暂时锁定" in await _page(response)
    clock.advance(minutes=svc.config.login_lock_minutes, seconds=1)
    assert (await _change(client, PASSWORD)).status_code == 302


async def test_session__ends_at_its_absolute_lifetime_however_active(client, svc, factory, clock):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)
    token = session_cookie(client)
    for _ in range(svc.config.session_max_hours - 1):
        clock.advance(hours=1)
        assert (await client.get("/profile")).status_code == 200  # active: the idle TTL slides
    ttl = await svc.redis.ttl(f"sess:{token}")
    assert 0 < ttl <= 3600  # the idle expiry never reaches past the absolute end
    clock.advance(hours=1)
    response = await client.get("/profile")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert await svc.redis.exists(f"sess:{token}") == 0


async def test_captcha__one_address_asking_too_often_is_refused(client, svc, clock):
    limit = svc.config.captcha_per_ip_minute
    clock.set(clock.now().replace(second=0))
    for _ in range(limit):
        assert (await client.get("/captcha")).status_code == 200
    response = await client.get("/captcha", headers={"Accept": "application/json"})
    assert response.status_code == 429
    assert (await response.get_json())["message"] == "获取验证码过于频繁，请稍后再试"
    stored = [k async for k in svc.redis.scan_iter("captcha:*")]
    assert len(stored) == limit  # the refused request stored nothing
    assert (await client.get("/login")).status_code == 429
    clock.advance(minutes=1)
    assert (await client.get("/captcha")).status_code == 200


@pytest.mark.parametrize(
    ("hops", "forwarded", "seen"),
    [
        # (The test client's peer address is "<local>".)
        (0, ["6.6.6.6"], "<local>"),  # no proxy of ours: the header is the client's say
        (1, ["6.6.6.6, 203.0.113.7"], "203.0.113.7"),  # our nginx appended the real one
        (1, ["6.6.6.6", "203.0.113.7"], "203.0.113.7"),  # the same, as two header lines
        (2, ["6.6.6.6, 203.0.113.7, 10.0.0.2"], "203.0.113.7"),  # a CDN, then our nginx
        (2, ["203.0.113.7"], "<local>"),  # fewer entries than hops: trust none
    ],
)
async def test_client_ip__counts_trusted_proxy_hops_from_the_right(
    client, svc, factory, hops, forwarded, seen
):
    svc.config.trust_proxy = hops
    user = await factory.user()
    headers = [("X-Forwarded-For", value) for value in forwarded]
    form = await login_form(client, svc)
    form.update(username=user.id_number, password="Wrong-Pass-1")
    await client.post("/login", form=form, headers=Headers(headers))
    keys = {k async for k in svc.redis.scan_iter("loginfail:ip:*")}
    assert keys == {f"loginfail:ip:{seen}"}


async def test_client_ip__a_forged_leftmost_entry_does_not_evade_the_ip_lock(client, svc, factory):
    svc.config.trust_proxy = 1
    for n in range(svc.config.login_ip_lock_after):
        form = await login_form(client, svc)
        form.update(username=new_id_number(), password="Wrong-Pass-1")
        forged = {"X-Forwarded-For": f"198.51.100.{n}, 203.0.113.7"}
        await client.post("/login", form=form, headers=forged)
    user = await factory.user()
    form = await login_form(client, svc)
    form.update(username=user.id_number, password=PASSWORD)
    forged = {"X-Forwarded-For": "198.51.100.250, 203.0.113.7"}
    response = await client.post("/login", form=form, headers=forged)
    assert response.status_code == 429
    assert "登录失败次数过多" in await _page(response)
