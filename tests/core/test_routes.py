from app.core import liveness
from tests.factories import login


async def test_healthz__reports_database_and_redis(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["ok"] and body["database"] and body["redis"]
    assert body["served_by"] == liveness.identity()


async def test_healthz__lists_live_processes_and_forgets_stopped_ones(client, svc):
    server = liveness.Heartbeat(svc.redis, "server")
    await server.start()
    await liveness.beat(svc.redis, "worker:elsewhere:42")
    await liveness.beat(svc.redis, "worker:killed:7")
    await svc.redis.delete("health:process:worker:killed:7")  # its key expired
    body = await (await client.get("/healthz")).get_json()
    assert body["servers"] == [liveness.identity()]
    assert body["workers"] == ["elsewhere:42"]
    assert await svc.redis.smembers(liveness.INDEX) == {server.member, "worker:elsewhere:42"}
    await server.stop()
    body = await (await client.get("/healthz")).get_json()
    assert body["servers"] == [] and body["workers"] == ["elsewhere:42"]


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
    assert response.headers["X-Frame-Options"] == "DENY"
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'" and policy["default-src"] == "'self'"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


async def test_pages__over_https_insist_on_https(client, svc):
    response = await client.get("/login", scheme="https")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    # Behind our own proxy (one hop), its X-Forwarded-Proto says how the browser came.
    svc.config.trust_proxy = 1
    forwarded = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in forwarded.headers
    svc.config.trust_proxy = 0
    spoofed = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed.headers


async def test_templates__have_no_inline_script_or_handler():
    """Nothing the Content-Security-Policy would block: scripts come from files only."""
    import re

    from app.config import ROOT

    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:", re.I)
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in (ROOT / "templates").rglob("*.html")
        for match in inline.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found


async def test_personal_pages__are_not_cached(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, "Str0ng-Pass!")
    assert (await client.get("/profile")).headers["Cache-Control"] == "no-store"
