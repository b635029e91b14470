from app.core import liveness
from tests.factories import login

LOOPBACK = {"client": ("127.0.0.1", 50000)}
OUTSIDE = {"client": ("203.0.113.9", 50000)}


async def healthz(client, scope=LOOPBACK, **headers) -> tuple[int, dict]:
    response = await client.get("/healthz", scope_base=scope, headers=headers)
    return response.status_code, await response.get_json()


async def test_healthz__reports_database_and_redis(client):
    status, body = await healthz(client)
    assert status == 200
    assert body["ok"] and body["database"] and body["redis"]
    assert body["served_by"] == liveness.identity()


async def test_healthz__lists_live_processes_and_forgets_stopped_ones(client, svc):
    server = liveness.Heartbeat(svc.redis, "server")
    await server.start()
    await liveness.beat(svc.redis, "worker:elsewhere:42")
    await liveness.beat(svc.redis, "worker:killed:7")
    await svc.redis.delete("health:process:worker:killed:7")  # its key expired
    _, body = await healthz(client)
    assert body["servers"] == [liveness.identity()]
    assert body["workers"] == ["elsewhere:42"]
    assert await svc.redis.smembers(liveness.INDEX) == {server.member, "worker:elsewhere:42"}
    await server.stop()
    _, body = await healthz(client)
    assert body["servers"] == [] and body["workers"] == ["elsewhere:42"]


async def test_healthz__the_public_answer_names_no_process(app, client, svc, factory):
    await liveness.beat(svc.redis, "worker:db-host-3:42")
    public = {"ok": True, "database": True, "redis": True}
    assert await healthz(client, OUTSIDE) == (200, public)
    # A forged X-Forwarded-For is no way in: no proxy of ours is configured, so a request
    # that carries one came through a proxy we were not told about.
    assert await healthz(client, LOOPBACK, **{"X-Forwarded-For": "127.0.0.1"}) == (200, public)
    # A learner's session is no operator's either.
    learner = await factory.user()
    await login(client, svc, learner.id_number, "Str0ng-Pass!")
    assert await healthz(client, OUTSIDE) == (200, public)
    # No token configured: no token opens it.
    assert (await healthz(client, OUTSIDE, Authorization="Bearer "))[1] == public


async def test_healthz__the_token_or_an_admin_session_see_the_processes(client, svc, factory):
    await liveness.beat(svc.redis, "worker:db-host-3:42")
    svc.config.metrics_token = "s3cret-token-for-monitoring"
    _, body = await healthz(client, OUTSIDE, Authorization="Bearer s3cret-token-for-monitoring")
    assert body["workers"] == ["db-host-3:42"]
    _, body = await healthz(client, OUTSIDE, Authorization="Bearer wrong")
    assert "workers" not in body
    admin = await factory.user(roles=("admin",))
    await login(client, svc, admin.id_number, "Str0ng-Pass!")
    _, body = await healthz(client, OUTSIDE)
    assert body["workers"] == ["db-host-3:42"] and body["served_by"] == liveness.identity()


async def test_healthz__behind_our_proxy_the_address_it_saw_decides(client, svc):
    svc.config.trust_proxy = 1
    through = {"X-Forwarded-For": "203.0.113.9"}
    assert "servers" not in (await healthz(client, LOOPBACK, **through))[1]
    # nginx on this machine, asked from this machine (make cluster's own check).
    assert "servers" in (await healthz(client, LOOPBACK, **{"X-Forwarded-For": "127.0.0.1"}))[1]


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


async def test_favicon_ico__is_the_sites_icon_for_browsers_that_ask_unbidden(client):
    # Chromium asks for /favicon.ico on documents that name no icon (a PDF opened in a
    # tab): a 404 there is a console error on the learner's screen.
    response = await client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.content_type.startswith("image/svg+xml")
    assert (await response.get_data()).lstrip().startswith(b"<svg")
