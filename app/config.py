"""Typed configuration read from SAFECE_* environment variables.

Defaults describe the embedded mode: SQLite and a private Redis on a unix socket, both
under ``var/``. Nothing secret is committed; a deployment sets its own values.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_HELPDESK = (
    "客服1：400-690-1001 400-690-1002（周一至周日 8:00—20:00）",
    "客服2：022-8484-7100（周一至周五 8:30—16:00）",
)


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SAFECE_{name}", default)


def _env_int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, as browsers send it in the Origin header."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{(parts.netloc or parts.path).lower()}".rstrip("/")


def _env_hops(name: str, default: int) -> int:
    """A count of proxy hops; the older true/false spelling means one and none."""
    value = _env(name, str(default)).strip().lower()
    if value in {"true", "yes", "on"}:
        return 1
    if value in {"", "false", "no", "off"}:
        return 0
    hops = int(value)
    if hops < 0:
        raise ValueError(f"SAFECE_{name} must be 0 or more proxy hops")
    return hops


def _env_bool(name: str, default: bool) -> bool:
    return _env(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


@dataclasses.dataclass
class Config:
    """Every setting the app, the worker and the CLI read."""

    data_dir: Path = ROOT / "var"
    database_url: str = ""
    redis_url: str = ""
    # Name shown in the header and on certificates.
    centre_name: str = "安全工程师继续教育培训中心"
    system_name: str = "学习考核系统"
    helpdesk: tuple[str, ...] = DEFAULT_HELPDESK
    # Accounts.
    initial_password_days: int = 30
    session_idle_minutes: int = 480
    # However active, a signed-in session ends this long after the login.
    session_max_hours: int = 12
    anonymous_session_minutes: int = 30
    captcha_ttl_seconds: int = 300
    # Each captcha stores a Redis key, so one address may ask only this often (a training
    # centre's learners may all come from one address: leave room for them).
    captcha_per_ip_minute: int = 120
    login_slow_after: int = 3  # failures before each attempt must wait
    login_lock_after: int = 8  # failures before the account is locked
    login_ip_lock_after: int = 30  # failures from one IP before it is locked
    login_lock_minutes: int = 15
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    cookie_secure: str = "auto"  # auto: Secure when the request came over HTTPS
    # How many proxies of our own stand in front of the servers (0: none): the client's
    # address is that many entries from the right of X-Forwarded-For (app/lib/net.py).
    trust_proxy: int = 0
    # Profile.
    # SMS gateway used by the worker's send_sms job; the web process only queues messages.
    sms_gateway: str = "app.messaging:LogSender"
    # Mail sender used by the worker's send_mail job (password reset links, notices).
    mail_sender: str = "app.messaging:LogMailSender"
    sms_code_ttl_seconds: int = 600
    sms_resend_seconds: int = 60
    sms_max_tries: int = 5
    photo_max_bytes: int = 500 * 1024
    photo_width: int = 295
    photo_height: int = 412
    # The port `serve` and `run` listen on (PORT, as hosting platforms set it).
    port: int = 8000
    # Certificates: the site's public address (for the QR code and /verify links; by
    # default this machine at ``port``) and the first retry delay of a failed certificate
    # job (doubled on each further try).
    public_url: str = "http://127.0.0.1:8000"
    # Other origins (scheme://host[:port]) whose pages may open Socket.IO connections, on
    # top of the public URL's own (e.g. a second host name of the same site).
    extra_origins: tuple[str, ...] = ()
    certificate_retry_seconds: float = 30.0
    # A rendering job that died (its worker killed) is taken over after this long.
    certificate_lease_seconds: int = 300
    # A certificate job running longer is cancelled; a job whose worker was killed runs
    # again once this (plus arq's 10 s) has passed.
    certificate_job_seconds: int = 120
    # Study: the heartbeat interval the page uses and the server enforces, and whether this
    # server process writes acknowledged study credits from Redis to the database.
    study_beat_seconds: float = 15.0
    study_flusher: bool = True
    # A server process's per-second profile (app/lib/profiling.py): "" off, "1" to the
    # log, a path ending in .jsonl for JSON lines.
    profile: str = ""
    # PostgreSQL through PgBouncer in transaction mode: no prepared statement outlives
    # its transaction (app/db.py).
    pgbouncer: bool = False
    # Administration uploads: one video, one study material, and everything being uploaded
    # at once (unfinished uploads are removed after a day).
    video_max_bytes: int = 2 * 1024**3
    material_max_bytes: int = 300 * 1024**2
    upload_quota_bytes: int = 20 * 1024**3
    # Personal data at rest (app/lib/crypto.py): the keys themselves, or a file holding
    # them (by default data.key in the data directory, made on first use).
    data_key: str = ""
    data_key_file: str = ""
    # Operations. /metrics and the process list of /healthz answer loopback callers and a
    # ``Authorization: Bearer <metrics_token>`` (an admin's session too, for /healthz).
    metrics_token: str = ""
    # Logs: "text" (for a person) or "json" (one object a line, for a log collector).
    log_format: str = "text"
    # Backups (python -m app backup; the worker's nightly one): where the nightly one goes
    # (by default backups/ in the data directory), how many it keeps, and at which hour
    # (Asia/Shanghai) it runs.
    backup_dir: str = ""
    backup_keep: int = 7
    backup_hour: int = 2
    # Extension point for tests and deployments: a clock object with now() -> aware UTC.
    clock: object | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'safece.db'}"
        if not self.redis_url:
            self.redis_url = f"unix://{self.data_dir / 'redis.sock'}"
        if self.log_format not in ("text", "json"):
            raise ValueError("SAFECE_LOG_FORMAT must be text or json")

    @property
    def allowed_origins(self) -> frozenset[str]:
        """The origins whose pages may connect to Socket.IO: the site's own, plus any listed."""
        return frozenset(origin_of(url) for url in (self.public_url, *self.extra_origins))

    @property
    def key_file(self) -> Path:
        return Path(self.data_key_file) if self.data_key_file else self.data_dir / "data.key"

    @property
    def backups(self) -> Path:
        """Where the nightly backups go."""
        return Path(self.backup_dir) if self.backup_dir else self.data_dir / "backups"

    @property
    def photo_dir(self) -> Path:
        return self.data_dir / "photos"

    @classmethod
    def from_env(cls) -> Config:
        """Build the configuration from the process environment."""
        data_dir = Path(_env("DATA_DIR", str(ROOT / "var")))
        helpdesk = os.environ.get("SAFECE_HELPDESK")
        port = int(os.environ.get("PORT", str(cls.port)))
        return cls(
            data_dir=data_dir,
            database_url=_env("DATABASE_URL", ""),
            redis_url=_env("REDIS_URL", ""),
            centre_name=_env("CENTRE_NAME", cls.centre_name),
            helpdesk=tuple(helpdesk.split("|")) if helpdesk else DEFAULT_HELPDESK,
            initial_password_days=_env_int("INITIAL_PASSWORD_DAYS", cls.initial_password_days),
            session_idle_minutes=_env_int("SESSION_IDLE_MINUTES", cls.session_idle_minutes),
            session_max_hours=_env_int("SESSION_MAX_HOURS", cls.session_max_hours),
            login_lock_minutes=_env_int("LOGIN_LOCK_MINUTES", cls.login_lock_minutes),
            captcha_per_ip_minute=_env_int("CAPTCHA_PER_IP_MINUTE", cls.captcha_per_ip_minute),
            cookie_secure=_env("COOKIE_SECURE", cls.cookie_secure),
            trust_proxy=_env_hops("TRUST_PROXY", cls.trust_proxy),
            sms_gateway=_env("SMS_GATEWAY", cls.sms_gateway),
            mail_sender=_env("MAIL_SENDER", cls.mail_sender),
            port=port,
            public_url=_env("PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/"),
            study_beat_seconds=float(_env("STUDY_BEAT_SECONDS", str(cls.study_beat_seconds))),
            study_flusher=_env_bool("STUDY_FLUSHER", cls.study_flusher),
            profile="" if _env("PROFILE", "") in {"", "0"} else _env("PROFILE", ""),
            pgbouncer=_env_bool("PGBOUNCER", cls.pgbouncer),
            video_max_bytes=_env_int("VIDEO_MAX_MB", cls.video_max_bytes // 1024**2) * 1024**2,
            upload_quota_bytes=_env_int("UPLOAD_QUOTA_MB", cls.upload_quota_bytes // 1024**2)
            * 1024**2,
            extra_origins=tuple(_env("ALLOWED_ORIGINS", "").replace(",", " ").split()),
            data_key=_env("DATA_KEY", ""),
            data_key_file=_env("DATA_KEY_FILE", ""),
            certificate_job_seconds=_env_int(
                "CERTIFICATE_JOB_SECONDS", cls.certificate_job_seconds
            ),
            certificate_lease_seconds=_env_int(
                "CERTIFICATE_LEASE_SECONDS", cls.certificate_lease_seconds
            ),
            metrics_token=_env("METRICS_TOKEN", ""),
            log_format=_env("LOG_FORMAT", cls.log_format).strip().lower(),
            backup_dir=_env("BACKUP_DIR", ""),
            backup_keep=_env_int("BACKUP_KEEP", cls.backup_keep),
            backup_hour=_env_int("BACKUP_HOUR", cls.backup_hour),
        )
