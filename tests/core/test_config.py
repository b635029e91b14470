"""The configuration read from the environment."""

from app.config import Config


def _clean(monkeypatch) -> None:
    for name in ("PORT", "SAFECE_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)


def test_public_url__follows_port_when_not_set(monkeypatch):
    _clean(monkeypatch)
    monkeypatch.setenv("PORT", "8123")
    config = Config.from_env()
    assert config.port == 8123
    assert config.public_url == "http://127.0.0.1:8123"


def test_public_url__defaults_to_port_8000(monkeypatch):
    _clean(monkeypatch)
    config = Config.from_env()
    assert (config.port, config.public_url) == (8000, "http://127.0.0.1:8000")


def test_public_url__set_explicitly_wins_over_port(monkeypatch):
    _clean(monkeypatch)
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("SAFECE_PUBLIC_URL", "https://jxjy.example.cn/")
    config = Config.from_env()
    assert config.port == 8123
    assert config.public_url == "https://jxjy.example.cn"
