"""Who may reach each registration route: applicants (注册申请人, and learners who may verify
a qualification) on the applicant's pages, reviewers on the review pages, every other role
403 on pages and POSTs alike; each person sees only their own forms and photos."""

import pytest

from tests.factories import CSRF, login

PASSWORD = "Str0ng-Pass!"
APPLICANT_ROLES = ("registrant", "learner")
OTHER_ROLES = ("invigilator", "reviewer", "final_reviewer", "admin")

APPLICANT_PAGES = (
    "/registration",
    "/registration/qualify",
    "/registration/personal",
    "/registration/history",
    "/registration/apply",
    "/registration/apply/channel",
    "/registration/apply/employer",
    "/registration/apply/education",
    "/registration/apply/experience",
    "/registration/apply/preview",
    "/registration/apply/form.pdf",
    "/registration/apply/form.docx",
    "/registration/history/1",
    "/registration/history/1/photo",
    "/registration/history/1.pdf",
)
APPLICANT_POSTS = (
    "/registration/qualify",
    "/registration/start/initial",
    "/registration/personal",
    "/registration/apply/channel",
    "/registration/apply/employer",
    "/registration/apply/experience",
    "/registration/apply/experience/abcd1234/delete",
    "/registration/apply/submit",
    "/registration/apply/withdraw",
)
REVIEW_PAGES = ("/review", "/review/1", "/review/1/photo", "/review/1/form.pdf")
REVIEW_POSTS = ("/review/1/first", "/review/1/final")


async def _csrf(client) -> str:
    page = await (await client.get("/profile")).get_data(as_text=True)
    return CSRF.search(page).group(1)


async def _as(client, svc, factory, *roles):
    user = await factory.user(roles=roles, name="权限测试")
    await login(client, svc, user.id_number, PASSWORD)
    return user


@pytest.mark.parametrize("role", OTHER_ROLES)
async def test_applicant_pages__every_other_role_gets_403(client, svc, factory, role):
    await _as(client, svc, factory, role)
    for path in APPLICANT_PAGES:
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "没有权限" in await response.get_data(as_text=True), path


@pytest.mark.parametrize("role", OTHER_ROLES)
async def test_applicant_posts__every_other_role_gets_403_and_nothing_happens(
    client, svc, factory, reg, role
):
    await _as(client, svc, factory, role)
    token = await _csrf(client)
    for path in APPLICANT_POSTS:
        response = await client.post(path, form={"csrf_token": token, "name": "x"})
        assert response.status_code == 403, path
    async with svc.db.read() as db:
        from sqlalchemy import func, select

        from app.registration.models import Application, Person

        assert await db.scalar(select(func.count(Application.id))) == 0
        assert await db.scalar(select(func.count(Person.user_id))) == 0


@pytest.mark.parametrize("role", APPLICANT_ROLES)
async def test_applicant_pages__applicants_and_learners_reach_them(client, svc, factory, role):
    await _as(client, svc, factory, role)
    for path in ("/registration", "/registration/qualify", "/registration/personal",
                 "/registration/history"):  # fmt: skip
        assert (await client.get(path)).status_code == 200, path
    # With no application in progress, the steps say so (404 in Chinese), not 403.
    response = await client.get("/registration/apply/employer")
    assert response.status_code == 404
    assert "您当前没有办理中的注册申请" in await response.get_data(as_text=True)


async def test_applicant_pages__a_reviewer_who_is_an_engineer_applies_too(client, svc, factory):
    await _as(client, svc, factory, "reviewer", "registrant")
    assert (await client.get("/registration")).status_code == 200
    assert (await client.get("/review")).status_code == 200


async def test_anonymous__pages_go_to_login_posts_are_refused(client):
    for path in ("/registration", "/registration/qualify", "/registration/history"):
        response = await client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = await client.post("/registration/start/initial", form={})
    assert response.status_code in (400, 401, 403)
    assert response.status_code != 500


@pytest.mark.parametrize("role", ("registrant", "learner", "invigilator", "admin"))
async def test_review_routes__only_reviewers(client, svc, factory, role):
    await _as(client, svc, factory, role)
    token = await _csrf(client)
    for path in REVIEW_PAGES:
        assert (await client.get(path)).status_code == 403, path
    for path in REVIEW_POSTS:
        response = await client.post(path, form={"csrf_token": token, "outcome": "approve"})
        assert response.status_code == 403, path


async def test_ownership__another_applicant_s_forms_and_photos_are_not_found(
    client, svc, reg, world
):
    authority, _, _, user = world
    await reg.start(user)
    await reg.fill(user, authority)
    sub = await reg.submit(user)
    other = await reg.applicant(name="陈他人")
    await login(client, svc, other.id_number, PASSWORD)
    for path in (f"/registration/history/{sub.id}", f"/registration/history/{sub.id}/photo",
                 f"/registration/history/{sub.id}.pdf", f"/registration/history/{sub.id}.docx"):  # fmt: skip
        response = await client.get(path)
        assert response.status_code == 404, path
        assert user.name not in await response.get_data(as_text=True)
    client.cookie_jar.clear()
    await login(client, svc, user.id_number, PASSWORD)
    assert (await client.get(f"/registration/history/{sub.id}")).status_code == 200


async def test_ownership__a_reviewer_of_another_authority_sees_nothing_of_it(
    client, svc, reg, world
):
    authority, _, _, user = world
    application = await reg.submitted(user, authority)
    stranger = await reg.reviewer(await reg.authority("北京市应急管理局"), name="郑外省")
    await login(client, svc, stranger.id_number, PASSWORD)
    for path in (f"/review/{application.id}", f"/review/{application.id}/photo",
                 f"/review/{application.id}/form.pdf", f"/review/{application.id}/form.docx"):  # fmt: skip
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "该申请不属于您所在注册机构的审核范围" in await response.get_data(as_text=True)
    queue = await (await client.get("/review")).get_data(as_text=True)
    assert f"open-{application.id}" not in queue
