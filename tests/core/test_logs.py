"""SAFECE_LOG_FORMAT=json: one JSON object a line, naming the request or Socket.IO event
and the user; never an ID number or a password. The default stays readable text."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys

from app.accounts import idcard
from app.lib import logs
from tests.core.test_cli import _free_port, _wait_healthy
from tests.factories import post_login

ID_NUMBER = idcard.make("11010519800101001")


def record(message: str, *args, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"bad {ID_NUMBER}")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("safece.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_json__one_object_with_the_context_and_no_id_number():
    formatter = logs.JsonFormatter("server")
    context = logs.bind(request_id="abc123", route="POST /login")
    logs.bind_user(42)
    assert context["user_id"] == 42
    line = formatter.format(record("refused %s", ID_NUMBER, exc=True))
    assert "\n" not in line
    body = json.loads(line)
    assert body["message"] == f"refused {logs.MASK}"
    assert body | {"time": "", "pid": 0, "host": "", "exception": ""} == {
        "time": "",
        "level": "WARNING",
        "logger": "safece.test",
        "message": f"refused {logs.MASK}",
        "process": "server",
        "pid": 0,
        "host": "",
        "request_id": "abc123",
        "route": "POST /login",
        "user_id": 42,
        "exception": "",
    }
    assert body["time"].endswith("+00:00") and body["pid"] == os.getpid()
    assert ID_NUMBER not in line and "ValueError" in body["exception"]


def test_text__readable_and_masked_too():
    handler = logs.handler("text", "worker")
    item = record("SMS for %s", ID_NUMBER.lower())
    assert handler.filter(item)
    text = handler.format(item)
    assert text.endswith(f"WARNING safece.test: SMS for {logs.MASK}")


async def test_serve__json_lines_name_the_request_and_the_user(tmp_path, config, factory):
    user = await factory.user(id_number=ID_NUMBER, password="Str0ng-Pass!")
    port = _free_port()
    env = dict(
        os.environ,
        SAFECE_DATA_DIR=str(config.data_dir),
        SAFECE_DATABASE_URL=config.database_url,
        SAFECE_REDIS_URL=config.redis_url,
        SAFECE_LOG_FORMAT="json",
        PORT=str(port),
    )
    log = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            _wait_healthy(proc, f"{base}/healthz", log)
            assert await _login(base, factory.svc.redis, ID_NUMBER, "Wrong-Pass-1") == 401
            assert await _login(base, factory.svc.redis, ID_NUMBER, "Str0ng-Pass!") == 302
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line
    assert ID_NUMBER not in text and "Str0ng-Pass!" not in text and "Wrong-Pass-1" not in text
    refused = next(line for line in lines if line["message"] == "login refused: bad_credentials")
    assert refused["route"] == "POST /login" and len(refused["request_id"]) == 16
    assert refused["process"] == "server" and "user_id" not in refused
    done = next(line for line in lines if line["message"] == "login")
    assert done["user_id"] == user.id and done["request_id"] != refused["request_id"]
    # uvicorn's own lines go the same way.
    assert any(line["logger"].startswith("uvicorn") for line in lines)


async def _login(base: str, redis, username: str, password: str) -> int:
    return (await post_login(base, redis, username, password))[0]
