"""Application configuration, read from environment variables with safe development defaults."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - refused in production


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class Config:
    """Settings shared by every environment; each one can be overridden from the environment."""

    ENV_NAME = os.environ.get("APP_ENV", "development")
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    DATABASE_URL = os.environ.get(
        "DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'feedback.db'}"
    )
    BPMN_DIR = os.environ.get("BPMN_DIR", str(BASE_DIR / "bpmn"))
    FORMS_DIR = os.environ.get("FORMS_DIR", str(BASE_DIR / "forms"))
    # Uploaded files, one per content hash. With several app servers this must be one shared
    # directory (an NFS export or a shared volume mounted at the same path on every server).
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(BASE_DIR / "instance" / "uploads"))
    # One request (all its files together); each file has its own, smaller limit so that the
    # common "too large" is a field error on the form, not a refused request.
    MAX_CONTENT_LENGTH = _int("MAX_UPLOAD_BYTES", 64 * 1024 * 1024)
    UPLOAD_MAX_FILE_BYTES = _int("UPLOAD_MAX_FILE_BYTES", 10 * 1024 * 1024)

    # The local time zone: dates, working hours, week boundaries, and times shown to users
    # who have not chosen their own zone. The only place it is written; read once here.
    TIMEZONE = os.environ.get("APP_TIMEZONE", "Asia/Shanghai")

    # Languages: Simplified Chinese by default, English on request.
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = TIMEZONE
    LANGUAGES = ("zh", "en")
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "app" / "translations")

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # forms may stay open for a whole shift
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)

    # Sign-in throttling (app/services/signin.py): growing delays after LOGIN_DELAY_AFTER failures
    # in a row, a lockout of LOGIN_LOCK_MINUTES after LOGIN_LOCK_AFTER; per client address at most
    # LOGIN_ADDRESS_LIMIT failures per LOGIN_ADDRESS_WINDOW_MINUTES.
    LOGIN_DELAY_AFTER = _int("LOGIN_DELAY_AFTER", 3)
    LOGIN_MAX_DELAY_SECONDS = _int("LOGIN_MAX_DELAY_SECONDS", 60)
    LOGIN_LOCK_AFTER = _int("LOGIN_LOCK_AFTER", 10)
    LOGIN_LOCK_MINUTES = _int("LOGIN_LOCK_MINUTES", 15)
    LOGIN_ADDRESS_LIMIT = _int("LOGIN_ADDRESS_LIMIT", 30)
    LOGIN_ADDRESS_WINDOW_MINUTES = _int("LOGIN_ADDRESS_WINDOW_MINUTES", 15)

    # How many proxies in front of the app set X-Forwarded-For/-Proto/-Host (0: none; the
    # client address in the audit trail and for rate limits is then the connection's own).
    TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)
    # Where the daily audit job appends the published chain head (see README, Audit trail).
    AUDIT_HEAD_LOG = os.environ.get("AUDIT_HEAD_LOG", str(BASE_DIR / "instance" / "audit-heads.log"))

    API_TOKEN_TTL_HOURS = _int("API_TOKEN_TTL_HOURS", 12)
    PUBLIC_FORM_RATE_LIMIT = _int("PUBLIC_FORM_RATE_LIMIT", 5)  # submissions per IP per hour
    # Requests per client address per minute to the pages anyone can reach (customer pages,
    # sign-in, the API's token and document endpoints), and wrong public links per hour.
    PUBLIC_REQUEST_LIMIT = _int("PUBLIC_REQUEST_LIMIT", 120)
    PUBLIC_TOKEN_MISS_LIMIT = _int("PUBLIC_TOKEN_MISS_LIMIT", 20)
    # How many reverse proxies (e.g. the TLS proxy of the README) stand in front of the app and
    # set X-Forwarded-For/-Proto: the client address is then taken from their headers. 0 = none
    # (a client could otherwise forge its address).
    TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "127.0.0.1")
    MAIL_PORT = _int("MAIL_PORT", 8025)
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_SENDER = os.environ.get("MAIL_SENDER", "feedback@example.com")

    MAIL_TIMEOUT = _int("MAIL_TIMEOUT", 10)  # seconds per SMTP connection
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")  # links in e-mails

    # CPU seconds (of its own thread, not wall-clock time) a diagram script or expression may use.
    SCRIPT_CPU_LIMIT_SECONDS = float(os.environ.get("SCRIPT_CPU_LIMIT_SECONDS", "1"))
    # Bounded work per request (app/engine/limits.py): CPU seconds all diagram code of one start,
    # completion or timer firing may use together, and how many instances one multi-instance
    # activity may create (a written cardinality above it is refused at deploy, a collection or
    # computed cardinality above it at run time is an incident).
    SCRIPT_CPU_BUDGET_SECONDS = float(os.environ.get("SCRIPT_CPU_BUDGET_SECONDS", "3"))
    MAX_MULTI_INSTANCE = _int("MAX_MULTI_INSTANCE", 200)

    SCHEDULER_ENABLED = _bool("SCHEDULER_ENABLED", False)  # `make run` turns it on
    # One active scheduler per database: a PostgreSQL advisory-lock lease, polled by standbys
    # every SCHEDULER_LEASE_POLL_SECONDS (app/scheduler/lease.py). SQLite: always granted.
    SCHEDULER_LEASE = _bool("SCHEDULER_LEASE", True)
    SCHEDULER_LEASE_POLL_SECONDS = float(os.environ.get("SCHEDULER_LEASE_POLL_SECONDS", "1"))
    # BPMN timers (app/scheduler/timers.py): the active scheduler's loop hands each due instance
    # to one of TIMER_WORKERS threads (1 on SQLite) as it falls due, at most TIMER_BATCH in flight,
    # and sleeps until the next due time but at most TIMER_POLL_SECONDS (timers written by other
    # processes are seen then).
    TIMER_WORKERS = _int("TIMER_WORKERS", 4)
    TIMER_BATCH = _int("TIMER_BATCH", 16)
    TIMER_POLL_SECONDS = float(os.environ.get("TIMER_POLL_SECONDS", "1"))
    CALENDAR_REFRESH_SECONDS = 1  # other processes' working-calendar changes are picked up then
    # Escalation ladder: reminder N working hours before due, head at due, manager N working
    # days after due; lateness counted in "working" or "calendar" days (started days).
    ESCALATION_INTERVAL_SECONDS = _int("ESCALATION_INTERVAL_SECONDS", 60)
    ESCALATION_REMINDER_HOURS = float(os.environ.get("ESCALATION_REMINDER_HOURS", "4"))
    ESCALATION_MANAGER_DELAY_DAYS = float(os.environ.get("ESCALATION_MANAGER_DELAY_DAYS", "1"))
    ESCALATION_LATENESS_DAYS = os.environ.get("ESCALATION_LATENESS_DAYS", "working")
    # E-mail outbox: drained every N seconds; a failure is retried after 60 s, 120 s, ...
    # (capped), and marked failed after OUTBOX_MAX_ATTEMPTS attempts.
    OUTBOX_INTERVAL_SECONDS = _int("OUTBOX_INTERVAL_SECONDS", 10)
    # At most this many e-mails per run of the outbox job (0: as many as are due and the interval
    # allows): a mail relay with a sending quota, e.g. 30 a minute, gets at most 30 per 60 s run.
    OUTBOX_MAX_PER_RUN = _int("OUTBOX_MAX_PER_RUN", 0)
    OUTBOX_MAX_ATTEMPTS = _int("OUTBOX_MAX_ATTEMPTS", 8)
    OUTBOX_RETRY_SECONDS = _int("OUTBOX_RETRY_SECONDS", 60)
    OUTBOX_RETRY_MAX_SECONDS = _int("OUTBOX_RETRY_MAX_SECONDS", 3600)
    OUTBOX_LEASE_SECONDS = _int("OUTBOX_LEASE_SECONDS", 300)
    # The customers' clocks: how often the stored state (on track / at risk / breached) is moved
    # on for lists and reports; pages compute it exactly anyway.
    CUSTOMER_CLOCK_INTERVAL_SECONDS = _int("CUSTOMER_CLOCK_INTERVAL_SECONDS", 60)
    # SpiffWorkflow logs every task state change at INFO ("spiff.task", "spiff.workflow"): a
    # dozen lines per completion, a few percent of its time. Production keeps only warnings;
    # elsewhere (unset) the engine's loggers follow the root logger.
    ENGINE_LOG_LEVEL = os.environ.get("ENGINE_LOG_LEVEL")
    TESTING = False

    @classmethod
    def is_production(cls) -> bool:
        return cls.ENV_NAME == "production"


class ProductionConfig(Config):
    """Production: secure cookies; start-up refuses the development secret key."""

    ENV_NAME = "production"
    ENGINE_LOG_LEVEL = os.environ.get("ENGINE_LOG_LEVEL", "WARNING")
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)


class TestConfig(Config):
    """Tests: database from TEST_DATABASE_URL, no background scheduler, CSRF stays on."""

    ENV_NAME = "testing"
    TESTING = True
    SCHEDULER_ENABLED = False
    DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    # The suite sends every request from one address on a frozen clock; the tests of the limits
    # lower these themselves.
    PUBLIC_REQUEST_LIMIT = 1_000_000
    PUBLIC_TOKEN_MISS_LIMIT = 1_000_000
    LOGIN_ADDRESS_LIMIT = 1_000_000


def config_from_env() -> type[Config]:
    """The configuration class named by APP_ENV."""
    return {"production": ProductionConfig, "testing": TestConfig}.get(
        os.environ.get("APP_ENV", "development"), Config
    )
