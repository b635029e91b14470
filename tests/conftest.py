"""Fixtures: a real redis-server, a real database per test, the app, clients, users.

Layers: redis_server/db_template (session) -> config -> app -> client -> logged-in helpers.
The database is SQLite (a migrated template copied per test) unless
SAFECE_TEST_DATABASE=postgresql, which starts a private PostgreSQL cluster for the run
(devtools/pgcluster.py), or SAFECE_DATABASE_URL names an existing PostgreSQL database; there
every test starts from emptied tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import graphlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import pytest
import quart
import uvicorn
from jinja2 import BytecodeCache
from quart.routing import QuartMap, QuartRule
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from werkzeug.routing import Map
from werkzeug.routing.matcher import StateMachineMatcher

from app import create_app, db, migrate
from app.asgi import create_asgi
from app.clock import FrozenClock
from app.config import Config
from app.exams import attempts
from devtools.pgcluster import PrivateCluster
from tests.factories import Factory

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


class LazyBuilderRule(QuartRule):
    """A route whose URL builder is compiled when it first builds a URL, and whose rule
    text is parsed once for the test process.

    Werkzeug compiles two builder functions per route when the app is made (about 0.1 s for
    our ~170 routes, 80 % of ``create_app``), and the suite makes an app for every test,
    each of which builds a handful of URLs. The builder compiled on first use is the very
    function Werkzeug would have compiled (``Rule._compile_builder``), so URLs are the same.

    Parsing the rule texts was then most of what remained (about 30 ms an app): the parts
    and trace Werkzeug's parser gives for a text are kept, with the converters it asked
    for, and each new rule gets them with converters of its own map, as the parser would
    have made them."""

    _parsed: ClassVar[dict[str, tuple[list, list, list]]] = {}
    _asked: list | None = None

    def _parse_rule(self, rule: str):
        found = self._parsed.get(rule)
        if found is None:
            trace_from, self._asked = len(self._trace), []
            try:
                parts = list(super()._parse_rule(rule))
            finally:
                asked, self._asked = self._asked, None
            found = self._parsed[rule] = (parts, self._trace[trace_from:], asked)
            yield from parts
            return
        parts, trace, asked = found
        for variable, converter, args, kwargs in asked:
            self._converters[variable] = self.get_converter(variable, converter, args, kwargs)
            self.arguments.add(variable)
        self._trace.extend(trace)
        yield from parts

    def get_converter(self, variable_name, converter_name, args, kwargs):
        if self._asked is not None:
            self._asked.append((variable_name, converter_name, args, kwargs))
        return super().get_converter(variable_name, converter_name, args, kwargs)

    def _compile_builder(self, append_unknown: bool = True):
        compile_builder = super()._compile_builder
        compiled = None

        def build(rule, **values):
            nonlocal compiled
            if compiled is None:
                compiled = compile_builder(append_unknown).__get__(rule, None)
            return compiled(**values)

        return build


class SharedRoutes(QuartMap):
    """A URL map whose rules, when they are the rules an earlier app of the test process
    added (the same, in the same order: every app of the suite adds the same ~170), takes
    that app's bound rules and compiled matcher instead of binding and compiling its own.

    Binding the rules and adding them to Werkzeug's matcher was about a third of
    ``create_app`` (25 ms an app). A map only records what is added; the first time it is
    used (to match or build a URL, or to list its rules) it looks its rules up; rules not
    seen before are bound and compiled as Werkzeug does, and kept for the next app. The
    shared state is never changed: a rule added to a map already in use makes that map
    bind all of its own rules anew."""

    _built: ClassVar[dict[tuple, tuple[StateMachineMatcher, dict]]] = {}

    def __init__(self, *args, **kwargs) -> None:
        self._own: list = []
        self._ready = False
        super().__init__(*args, **kwargs)

    def add(self, rulefactory) -> None:
        if self._ready:  # in use: from now on this map's own state, as Werkzeug keeps it
            self._ready = False
            self._matcher = StateMachineMatcher(self.merge_slashes)
            self._rules_by_endpoint = {}
        self._own.extend(rulefactory.get_rules(self))
        self._remap = True

    @staticmethod
    def _key(rule) -> tuple:
        return (
            type(rule), rule.rule, rule.endpoint, tuple(sorted(rule.methods or ())), repr(rule.defaults),
            rule.subdomain, rule.host, rule.strict_slashes, rule.merge_slashes,
            repr(rule.redirect_to), rule.build_only, rule.alias, rule.websocket,
            getattr(rule, "provide_automatic_options", None),
        )  # fmt: skip

    def update(self) -> None:
        if not self._ready:
            key = (
                self.host_matching, self.strict_slashes, self.merge_slashes,
                self.default_subdomain, tuple(self.converters.items()),
                *map(self._key, self._own),
            )  # fmt: skip
            built = self._built.get(key)
            if built is None:
                for rule in self._own:
                    Map.add(self, rule)
                super().update()
                self._built[key] = (self._matcher, self._rules_by_endpoint)
            else:
                self._matcher, self._rules_by_endpoint = built
                self._remap = False
            self._ready = True
        super().update()


class CompiledTemplates(BytecodeCache):
    """The page templates, compiled once for the test process.

    Every test makes its own app, and so its own Jinja environment, which compiled each
    template it rendered anew (about 0.1 s a test, a quarter of a short test's time). This
    cache hands every environment the code compiled from the same source (Jinja checks the
    source's checksum), so the pages are exactly those an app compiles for itself."""

    def __init__(self) -> None:
        self.codes: dict[str, tuple[str, object]] = {}

    def load_bytecode(self, bucket) -> None:
        found = self.codes.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.code = found[1]

    def dump_bytecode(self, bucket) -> None:
        self.codes[bucket.key] = (bucket.checksum, bucket.code)


quart.Quart.url_rule_class = LazyBuilderRule
quart.Quart.url_map_class = SharedRoutes
quart.Quart.jinja_options = {**quart.Quart.jinja_options, "bytecode_cache": CompiledTemplates()}


@pytest.fixture(scope="session")
def redis_server():
    """One real redis-server for the whole run, on a private unix socket."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.exit("redis-server is not installed: run `make test`", returncode=3)
    workdir = Path(tempfile.mkdtemp(prefix="safece-redis-"))
    sock = workdir / "redis.sock"
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--databases",
            "16",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        if sock.exists():
            break
        time.sleep(0.02)
    yield f"unix://{sock}"
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL cluster for the whole run, on a unix socket in a temp dir."""
    directory = Path(tempfile.mkdtemp(prefix="safece-pg-"))
    try:
        cluster = PrivateCluster(directory, fast=True).start()
    except (RuntimeError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or error
        pytest.exit(f"cannot start PostgreSQL for the tests: {detail}", returncode=3)
    yield cluster
    cluster.stop()
    shutil.rmtree(directory, ignore_errors=True)


E2E = Path(__file__).parent / "e2e"


# The longest tests (benchmarks with their own stacks, the journeys) are handed out first,
# so that no worker starts one of them when the others are nearly done.
LONGEST_FIRST = (Path(__file__).parent / "bench", E2E / "test_journey_")


def _longest(item) -> bool:
    path = str(item.path)
    return any(path.startswith(str(prefix)) for prefix in LONGEST_FIRST)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "postgresql: runs in the PostgreSQL pass though it takes no test database"
    )


def pytest_collection_finish(session):
    """Everything imported and collected by now lives for the whole run: moved out of the
    garbage collector's sight (gc.freeze), each collection no longer walks it (about 10 ms
    a test, in collections that allocation-heavy app setup set off)."""
    gc.collect()
    gc.freeze()


def _browser(item) -> bool:
    return E2E in Path(str(item.path)).parents and not os.environ.get("SAFECE_E2E_ON_POSTGRESQL")


def _differs_by_database(item) -> bool:
    """What can differ by database: the tests that use the test database (the
    `db_template` fixture, under every app and service fixture), and those marked
    `postgresql` (they start a PostgreSQL of their own). The browser tests are not among
    them: the pages do not differ by database."""
    if _browser(item):
        return False
    return "db_template" in item.fixturenames or item.get_closest_marker("postgresql") is not None


def pytest_collection_modifyitems(config, items):
    """`make test` runs the suite on SQLite and on PostgreSQL, the two passes side by side
    (devtools/testrun.py names the passes that run in SAFECE_TEST_PASSES). What can differ
    by database (locking, JSON columns, time zones, string lengths, the autosave writer,
    the cluster) runs in both; a test that never opens the test database (a unit test, a
    command run in a subprocess on its own SQLite) runs once, since a second run would give
    the same answer. It runs in the PostgreSQL pass when both run, so that the passes end
    together (the SQLite pass alone runs every browser test), and otherwise in the SQLite
    pass. The cluster tests and the benchmarks skip themselves outside PostgreSQL."""
    items.sort(key=lambda item: not _longest(item))
    database = os.environ.get("SAFECE_TEST_DATABASE", "sqlite")
    both = {"sqlite", "postgresql"} <= set(os.environ.get("SAFECE_TEST_PASSES", "").split(","))
    once = "postgresql" if both else "sqlite"  # where a test that differs by nothing runs
    for item in items:
        if _differs_by_database(item):
            continue
        if _browser(item):
            if database == "postgresql":
                item.add_marker(pytest.mark.skip(reason="a browser test: runs in the SQLite pass"))
        elif database != once:
            item.add_marker(
                pytest.mark.skip(reason=f"never opens the test database: runs in the {once} pass")
            )


@pytest.fixture(scope="session")
def db_template(tmp_path_factory, request):
    """Migrate once; each test then gets a copy (SQLite) or emptied tables (PostgreSQL)."""
    external = os.environ.get("SAFECE_DATABASE_URL")
    if not external and os.environ.get("SAFECE_TEST_DATABASE") == "postgresql":
        external = request.getfixturevalue("postgres").create_database("safece_test")
    if external:
        migrate.upgrade(external)
        asyncio.run(_prepare_reset(external))
        return external
    path = tmp_path_factory.mktemp("db") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


_TABLES = (
    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
    "AND tablename <> 'alembic_version'"
)
_FOREIGN_KEYS = (
    "SELECT child.relname, parent.relname FROM pg_constraint c "
    "JOIN pg_class child ON child.oid = c.conrelid JOIN pg_class parent ON parent.oid = c.confrelid "
    "WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace"
)
_SEQUENCES = (  # each table's serial or identity sequences, with their columns
    "SELECT t.relname, a.attname, s.oid::regclass::text FROM pg_class s "
    "JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
    "JOIN pg_class t ON t.oid = d.refobjid "
    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
    "WHERE s.relkind = 'S' AND t.relnamespace = current_schema()::regnamespace"
)


async def _prepare_reset(url: str) -> None:
    """After migrating: copy the rows migrations seeded (reference data such as the
    registration rule sets) into schema `seeded`, and write `seeded.reset()`, which puts
    every table back to what the migrations left: DELETE, children before parents, then the
    seeded rows, then each sequence where the migrations left it. (TRUNCATE ... RESTART
    IDENTITY did the same in 0.24 s a test, making new files for every table and index;
    this takes 2 ms.)"""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS seeded CASCADE"))
        await conn.execute(text("CREATE SCHEMA seeded"))
        names = [name for (name,) in await conn.execute(text(_TABLES))]
        seeded = set()
        for name in names:
            if await conn.scalar(text(f'SELECT EXISTS (SELECT 1 FROM "{name}")')):
                await conn.execute(text(f'CREATE TABLE seeded."{name}" AS TABLE "{name}"'))
                seeded.add(name)
        children = {name: set() for name in names}
        for child, parent in await conn.execute(text(_FOREIGN_KEYS)):
            if child != parent:
                children[parent].add(child)
        order = list(graphlib.TopologicalSorter(children).static_order())  # children first
        body = [f'DELETE FROM "{name}";' for name in order]
        body += [
            f'INSERT INTO "{n}" SELECT * FROM seeded."{n}";' for n in reversed(order) if n in seeded
        ]
        for table, column, sequence in await conn.execute(text(_SEQUENCES)):
            if table in seeded:  # ids the seeded rows took must not be handed out again
                body.append(
                    f"PERFORM setval('{sequence}', coalesce(max(\"{column}\"), 1), "
                    f'max("{column}") IS NOT NULL) FROM "{table}";'
                )
            else:
                body.append(f"PERFORM setval('{sequence}', 1, false);")
        await conn.execute(
            text(
                "CREATE FUNCTION seeded.reset() RETURNS void LANGUAGE plpgsql AS $reset$ BEGIN\n"
                + "\n".join(body)
                + "\nEND $reset$"
            )
        )
    await engine.dispose()


@pytest.fixture(scope="session")
async def reset_database(db_template):
    """Empties the PostgreSQL tables (``seeded.reset()``) over one engine for the run."""
    if not isinstance(db_template, str):
        yield None
        return
    engine = create_async_engine(db_template)

    async def reset() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT seeded.reset()"))

    yield reset
    await engine.dispose()


@pytest.fixture
def clock():
    return FrozenClock(START)


@pytest.fixture(scope="session")
def test_database(tmp_path_factory) -> Path:
    """Where each SQLite test's copy of the template lives: one path for every test of a
    worker, so that the worker's apps share one engine (`app.db.keep_engines`) and SQLAlchemy
    compiles each statement once per worker, not once per test."""
    db.keep_engines()
    return tmp_path_factory.mktemp("test-database") / "safece.db"


@pytest.fixture
async def config(tmp_path, redis_server, db_template, reset_database, test_database, clock):
    """A configuration for one test: its own data dir, database and flushed Redis."""
    attempts.forget_pools()  # what this process remembers of the last test's question banks
    if isinstance(db_template, str):
        await reset_database()
        database_url = db_template
    else:
        await db.dispose_kept_engines()  # no connection left open may see the next database
        for leftover in ("", "-wal", "-shm"):
            Path(f"{test_database}{leftover}").unlink(missing_ok=True)
        shutil.copy(db_template, test_database)
        database_url = f"sqlite+aiosqlite:///{test_database}"
    cfg = Config(
        data_dir=tmp_path,
        database_url=database_url,
        redis_url=f"{redis_server}?db=1",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        clock=clock,
    )
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(cfg.redis_url)
    await r.flushdb()
    await r.aclose()
    return cfg


@pytest.fixture
async def app(config):
    app = create_app(config)
    async with app.test_app():
        yield app


@pytest.fixture
def svc(app):
    return app.extensions["safece"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def factory(svc):
    return Factory(svc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(config):
    """The full ASGI app (Socket.IO around Quart) of a configuration, served by uvicorn on
    a free port; ``.quart`` is the Quart app, ``.base_url`` where it answers.

    The listening socket is bound here and handed to uvicorn, so that no other test (or
    another xdist worker) can take the port between choosing it and listening on it."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # The site's own origin: browser pages served from it may open sockets.
    config.public_url = f"http://127.0.0.1:{port}"
    asgi = create_asgi(config)
    server = uvicorn.Server(
        uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    asgi.quart = asgi.other_asgi_app
    asgi.base_url = f"http://127.0.0.1:{port}"
    try:
        yield asgi
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        listener.close()


@pytest.fixture
async def live_server(config):
    """The full ASGI app served by uvicorn on a free port (``serving``)."""
    async with serving(config) as asgi:
        yield asgi


@pytest.fixture
async def live_svc(live_server):
    return live_server.quart.extensions["safece"]


@contextlib.asynccontextmanager
async def running_worker(config):
    """A real arq worker consuming this configuration's queues inside the test process."""
    from workers import base
    from workers.settings import build_worker

    w = build_worker(config, handle_signals=False, poll_delay=0.05)
    task = base.start(w)
    try:
        yield w
    finally:
        await base.stop(w, task)


@pytest.fixture
async def worker(config):
    """A real arq worker for the whole test (``running_worker`` to start it later)."""
    async with running_worker(config) as w:
        yield w
