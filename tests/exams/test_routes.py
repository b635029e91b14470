from app.exams import grading, schemas
from tests.exams.conftest import paper_of
from tests.factories import csrf_of, login

PASSWORD = "Str0ng-Pass!"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
)


async def _text(response) -> str:
    return await response.get_data(as_text=True)


async def _post(client, url, **headers):
    return await client.post(
        url,
        json={},
        headers={"X-CSRF-Token": await csrf_of(client), "Accept": "application/json", **headers},
    )


async def test_index__shows_requirements_and_exactly_what_is_missing(client, svc, exams):
    batch = await exams.batch(min_study_days=3)
    user = await exams.learner(batch)
    await exams.study(user, batch, videos=[batch.videos[0]], days_ago=(2, 1))
    await login(client, svc, user.id_number, PASSWORD)
    page = await _text(await client.get("/exams"))
    assert "考试测试批次" in page
    for text in (
        "学习总时长",
        "已学总时长",
        "公共课应学习",
        "公共课已学习",
        "考试起止时间",
        "操作",
    ):
        assert text in page
    assert "总学习时长还差 1 分钟" in page and "学习天数 2/3" in page
    assert "参加考试" not in page.split("考试指南")[0].replace("start-dialog", "")
    assert "考试指南" in page and "每题10分" in page


async def test_index__eligible_learner_gets_the_start_button(client, svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    await login(client, svc, user.id_number, PASSWORD)
    page = await _text(await client.get("/exams"))
    assert f'id="start-{batch.batch.id}"' in page
    assert "已用 0/3 次机会" in page


async def test_index__phone_sees_the_computer_only_notice(client, svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    await login(client, svc, user.id_number, PASSWORD)
    page = await _text(await client.get("/exams", headers={"User-Agent": PHONE}))
    assert "学员只能使用电脑参加考试" in page
    assert f'id="start-{batch.batch.id}"' not in page


async def test_computer_only__one_wording_in_the_guide_the_dialog_and_the_exam_page(
    client, svc, exams
):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    await login(client, svc, user.id_number, PASSWORD)
    page = await _text(await client.get("/exams"))
    attribute = f'data-computer-only="{schemas.COMPUTER_ONLY}"'
    assert page.count(schemas.COMPUTER_ONLY) == 3  # the guide twice (page, dialog), exam.js
    assert attribute in page and f"注意：{schemas.COMPUTER_ONLY}" in page
    response = await _post(client, f"/api/exams/{batch.batch.id}/start")
    exam_page = await _text(await client.get((await response.get_json())["url"]))
    assert attribute in exam_page
    refused = await _post(client, f"/api/exams/{batch.batch.id}/start", **{"User-Agent": PHONE})
    assert (await refused.get_json())["message"] == schemas.COMPUTER_ONLY


async def test_start__returns_the_exam_page_address(client, svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    await login(client, svc, user.id_number, PASSWORD)
    response = await _post(client, f"/api/exams/{batch.batch.id}/start")
    body = await response.get_json()
    assert response.status_code == 200 and body["url"] == f"/exams/attempts/{body['attempt_id']}"


async def test_start__after_the_time_ran_out_submits_that_paper_and_starts_the_next(
    client, svc, exams, clock
):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    first = await exams.start(user, batch)
    clock.advance(minutes=121)
    await login(client, svc, user.id_number, PASSWORD)

    response = await _post(client, f"/api/exams/{batch.batch.id}/start")

    body = await response.get_json()
    assert response.status_code == 200 and body["attempt_id"] != first.id
    assert (await exams.reload(first)).ended_by == "time_up"


async def test_start__from_phone_or_tablet_is_refused(client, svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    await login(client, svc, user.id_number, PASSWORD)
    for agent in (PHONE, ANDROID_TABLET):
        response = await _post(
            client, f"/api/exams/{batch.batch.id}/start", **{"User-Agent": agent}
        )
        assert response.status_code == 403
        assert (await response.get_json())["code"] == "computer_only"


async def test_start__not_eligible_says_why(client, svc, exams):
    batch = await exams.batch()
    user = await exams.learner(batch)
    await login(client, svc, user.id_number, PASSWORD)
    response = await _post(client, f"/api/exams/{batch.batch.id}/start")
    body = await response.get_json()
    assert response.status_code == 403 and body["code"] == "not_eligible"
    assert "必修课《安全生产法律法规》未完成" in body["message"]


async def test_start__unknown_batch_is_not_found(client, svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    await login(client, svc, user.id_number, PASSWORD)
    response = await _post(client, "/api/exams/999/start")
    assert (
        response.status_code == 404 and (await response.get_json())["message"] == "您未报名该批次"
    )


async def test_attempt_page__shows_the_paper_but_never_answers_or_explanations(client, svc, exams):
    batch = await exams.batch(policy={})
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await login(client, svc, user.id_number, PASSWORD)
    page = await _text(await client.get(f"/exams/attempts/{attempt.id}"))
    assert (
        "考题一共有70道，其中单选40题（每题1.5分）、多选10题（每题2分）、判断20题（每题1分）。"
        in page
    )
    assert "一、单选题（40题，每题1.5分）" in page and "三、判断题（20题，每题1分）" in page
    assert "所有答案已保存" in page and "提交试卷" in page
    for secret in await exams.secrets(attempt):
        assert secret not in page
    assert "explanation" not in page and "correct" not in page


async def test_attempt_page__shows_saved_answers_after_a_reload(client, svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    judge = [i.question_id for i in paper_of(attempt) if i.type == "judge"][0]
    await exams.save(attempt, {judge: "F"})
    await login(client, svc, user.id_number, PASSWORD)
    page = await _text(await client.get(f"/exams/attempts/{attempt.id}"))
    assert f'name="q{judge}" value="F" checked' in page
    assert f'id="nav-{judge}" data-qid="{judge}" class="answered"' in page


async def test_attempt_page__someone_elses_attempt_is_not_found(client, svc, exams):
    batch = await exams.batch()
    owner = await exams.eligible(batch)
    other = await exams.eligible(batch)
    attempt = await exams.start(owner, batch)
    await login(client, svc, other.id_number, PASSWORD)
    response = await client.get(f"/exams/attempts/{attempt.id}")
    assert response.status_code == 404 and "考试不存在或不属于您" in await _text(response)


async def test_attempt_page__phone_is_refused(client, svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await login(client, svc, user.id_number, PASSWORD)
    response = await client.get(f"/exams/attempts/{attempt.id}", headers={"User-Agent": PHONE})
    assert response.status_code == 403 and "学员只能使用电脑参加考试" in await _text(response)


async def test_attempt_page__after_the_deadline_shows_the_forced_result(client, svc, exams, clock):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    clock.advance(minutes=121)
    await login(client, svc, user.id_number, PASSWORD)
    page = await _text(await client.get(f"/exams/attempts/{attempt.id}"))
    assert "很遗憾！您的考试成绩为 0 分，考试未通过！您还有 2 次考试的机会" in page
    assert (await exams.reload(attempt)).ended_by == "time_up"


async def test_submit__over_http_returns_the_result(client, svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await login(client, svc, user.id_number, PASSWORD)
    response = await _post(client, f"/api/exams/attempts/{attempt.id}/submit")
    result = (await response.get_json())["result"]
    assert result["ended_by"] == "submitted" and result["attempts_left"] == 2
    again = await _post(client, f"/api/exams/attempts/{attempt.id}/submit")
    assert (await again.get_json())["result"] == result  # idempotent


async def test_submit__without_csrf_changes_nothing(client, svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await login(client, svc, user.id_number, PASSWORD)
    response = await client.post(f"/api/exams/attempts/{attempt.id}/submit", json={})
    assert response.status_code == 400
    assert (await exams.reload(attempt)).status == "open"


async def test_records__list_each_attempt_with_how_it_ended(client, svc, exams, clock):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    first = await exams.start(user, batch)
    async with svc.db.write() as db:
        await grading.submit(session=db, attempt_id=first.id, user_id=user.id, now=svc.now())
    clock.advance(minutes=1)
    await exams.start(user, batch)
    clock.advance(minutes=121)
    await login(client, svc, user.id_number, PASSWORD)
    page = await _text(await client.get("/exams/records"))
    assert "时间到自动交卷" in page and "交卷" in page and "不合格" in page
    assert "2026-03-02 09:00:00" in page  # started, in Beijing time
    assert "第 2 次" in page


async def test_pages__are_for_learners_only(client, svc, factory):
    admin = await factory.user(roles=("admin",))
    await login(client, svc, admin.id_number, PASSWORD)
    assert (await client.get("/exams")).status_code == 403
    assert (await client.get("/exams/records")).status_code == 403


async def test_pages__anonymous_goes_to_login(client):
    response = await client.get("/exams")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


async def test_courses_page__exam_entry_says_what_is_missing_instead_of_a_button(
    client, svc, exams
):
    batch = await exams.batch(min_study_days=3)
    user = await exams.learner(batch)
    await exams.study(user, batch, videos=[batch.videos[0]], days_ago=(2, 1))
    await login(client, svc, user.id_number, PASSWORD)

    page = await _text(await client.get("/courses"))

    assert 'id="exam-button"' not in page and "开始考试" not in page
    assert "暂不能参加考试：" in page
    assert "总学习时长还差 1 分钟" in page and "学习天数 2/3" in page


async def test_courses_page__eligible_learner_gets_the_exam_button_but_a_phone_does_not(
    client, svc, exams
):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    await login(client, svc, user.id_number, PASSWORD)

    computer = await _text(await client.get("/courses"))
    phone = await _text(await client.get("/courses", headers={"User-Agent": PHONE}))

    assert '<a class="btn" href="/exams" id="exam-button">开始考试</a>' in computer
    assert 'id="exam-button"' not in phone and "考试须使用电脑参加" in phone
