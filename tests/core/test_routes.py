from tests.factories import login


async def test_healthz__reports_database_and_redis(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"ok": True, "database": True, "redis": True}


async def test_home__anonymous_goes_to_login(client):
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")


async def test_unknown_page__chinese_404(client):
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert "您访问的页面不存在" in await response.get_data(as_text=True)


async def test_home__logged_in_learner_goes_to_profile(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, "Str0ng-Pass!")
    response = await client.get("/")
    assert response.headers["Location"].endswith("/profile")


async def test_pages__carry_security_headers(client):
    response = await client.get("/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


async def test_personal_pages__are_not_cached(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, "Str0ng-Pass!")
    assert (await client.get("/profile")).headers["Cache-Control"] == "no-store"
