"""Settings from the environment (and `.env`), with embedded defaults for development.

With nothing configured the app runs on SQLite in `instance/`, an in-process cache and
the simulated `demo` market. Production (`TICKERDESK_ENV=production`) must be given a
`SECRET_KEY`; everything else has a safe default.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

ENVIRONMENTS = ("development", "production", "testing")
INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
# The job families JOBS_SCHEDULE may name; app/jobs/schedule.py maps each to its task and pace.
JOB_FAMILIES = ("heartbeat", "quotes", "scores", "sweep", "news", "bars", "fx", "profiles", "splits", "forecasts")


class ConfigError(RuntimeError):
    """The configuration cannot work; the message says what to set."""


def load_config(env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None,
                instance_dir: Path = INSTANCE_DIR) -> dict[str, Any]:
    """Return the Flask config built from `env` (default: os.environ after loading `.env`)."""
    if env is None:
        load_dotenv(override=False)
        env = os.environ
    environment = env.get("TICKERDESK_ENV", "development").strip().lower()
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"TICKERDESK_ENV must be one of {', '.join(ENVIRONMENTS)}, not {environment!r}")
    production = environment == "production"
    cfg: dict[str, Any] = {
        "ENV_NAME": environment,
        "PRODUCTION": production,
        "TESTING": environment == "testing",
        "SECRET_KEY": _secret_key(env, production, instance_dir),
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL"), instance_dir),
        # hide_parameters: bound values (emails, notes) never reach exception text, hence logs.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "REDIS_URL": env.get("REDIS_URL") or None,
        "MARKET_PROVIDERS": _csv(env.get("MARKET_PROVIDERS", "demo")),
        "FINNHUB_API_KEY": env.get("FINNHUB_API_KEY") or None,
        "ALPHAVANTAGE_API_KEY": env.get("ALPHAVANTAGE_API_KEY") or None,
        "YAHOO_BASE_URL": env.get("YAHOO_BASE_URL", "https://query2.finance.yahoo.com"),
        # Batched quotes need Yahoo's cookie (from YAHOO_COOKIE_URL) and crumb; "chart" quotes per symbol.
        "YAHOO_COOKIE_URL": env.get("YAHOO_COOKIE_URL", "https://fc.yahoo.com"),
        "YAHOO_QUOTE_API": (env.get("YAHOO_QUOTE_API") or "v7").strip().lower(),
        "FINNHUB_BASE_URL": env.get("FINNHUB_BASE_URL", "https://finnhub.io/api/v1"),
        "ALPHAVANTAGE_BASE_URL": env.get("ALPHAVANTAGE_BASE_URL", "https://www.alphavantage.co"),
        "DEMO_LATENCY_MS": _number(env, "DEMO_LATENCY_MS", 0, float),
        "DEMO_FAILURE_RATE": _number(env, "DEMO_FAILURE_RATE", 0.0, float),
        "DEMO_TICK_S": _number(env, "DEMO_TICK_S", 1.0, float),
        # Live updates (Socket.IO /live): see README "Live updates".
        "LIVE_MAX_CONNECTIONS": _number(env, "LIVE_MAX_CONNECTIONS", 5000, int),
        "LIVE_MAX_SYMBOLS": _number(env, "LIVE_MAX_SYMBOLS", 100, int),
        "LIVE_MAX_PER_USER": _number(env, "LIVE_MAX_PER_USER", 10, int),
        "LIVE_SESSION_CHECK_S": _number(env, "LIVE_SESSION_CHECK_S", 1.0, float),
        "LIVE_TICK_OPEN_S": _number(env, "LIVE_TICK_OPEN_S", 2.0, float),
        "LIVE_TICK_CLOSED_S": _number(env, "LIVE_TICK_CLOSED_S", 30.0, float),
        "LIVE_LOCK_TTL_S": _number(env, "LIVE_LOCK_TTL_S", 10.0, float),
        "LIVE_STREAMER": env.get("LIVE_STREAMER", "web").strip().lower(),
        "LIVE_LOOP": _bool(env.get("LIVE_LOOP"), default=True),
        "LIVE_REDIS_PREFIX": env.get("LIVE_REDIS_PREFIX", "td:live:"),
        "LIVE_CHANNEL": env.get("LIVE_CHANNEL", "tickerdesk-live"),  # the Socket.IO message queue's
        # The demo market replays its last session while the exchanges are closed, so live
        # updates move at any hour; false follows the exchanges' hours like a real market.
        "DEMO_ALWAYS_OPEN": _bool(env.get("DEMO_ALWAYS_OPEN"), default=True),
        "BASE_CURRENCY": env.get("BASE_CURRENCY", "EUR").strip().upper(),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").strip().upper(),
        "LOG_JSON": _bool(env.get("LOG_JSON"), default=production),
        # Rate limits (Flask-Limiter syntax, e.g. "300 per minute").
        "RATELIMIT_DEFAULT": env.get("RATELIMIT_DEFAULT", "300 per minute"),
        "RATELIMIT_LOGIN": env.get("RATELIMIT_LOGIN", "10 per minute"),
        # Failed log-ins per account and address (a backoff: the hour's budget caps the minute's)
        # and per account from addresses it has never logged in from.
        "RATELIMIT_LOGIN_ACCOUNT": env.get("RATELIMIT_LOGIN_ACCOUNT", "5 per minute; 20 per hour"),
        "RATELIMIT_LOGIN_ACCOUNT_ANY": env.get("RATELIMIT_LOGIN_ACCOUNT_ANY", "100 per hour"),
        "RATELIMIT_REGISTER": env.get("RATELIMIT_REGISTER", "5 per minute"),
        "RATELIMIT_BATCH": env.get("RATELIMIT_BATCH", "60 per minute"),
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), default=True),
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX", ""),  # to share one Redis between apps
        "AUTH_REDIS_PREFIX": env.get("AUTH_REDIS_PREFIX", "td:"),  # revoked tokens, token versions
        "CACHE_KEY_PREFIX": env.get("CACHE_KEY_PREFIX", "td:"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis down: limits fall back to process memory instead of failing requests.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        # Cache TTL classes, in seconds.
        "CACHE_TTL_QUOTE": _number(env, "CACHE_TTL_QUOTE", 15, int),
        "CACHE_TTL_HISTORY": _number(env, "CACHE_TTL_HISTORY", 3600, int),
        "CACHE_TTL_PROFILE": _number(env, "CACHE_TTL_PROFILE", 86400, int),
        "CACHE_TTL_NEWS": _number(env, "CACHE_TTL_NEWS", 900, int),
        "CACHE_TTL_SCORE": _number(env, "CACHE_TTL_SCORE", 300, int),
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=_number(env, "JWT_ACCESS_MINUTES", 15, int)),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=_number(env, "JWT_REFRESH_DAYS", 30, int)),
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_ERROR_MESSAGE_KEY": "message",
        "MAX_CONTENT_LENGTH": _number(env, "MAX_CONTENT_LENGTH", 2 * 1024 * 1024, int),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_DURATION": timedelta(days=_number(env, "REMEMBER_DAYS", 30, int)),
        "PERMANENT_SESSION_LIFETIME": timedelta(days=_number(env, "SESSION_DAYS", 7, int)),
        # Reverse proxies in front of the app whose X-Forwarded-For / -Proto are believed (Render: 1).
        "TRUSTED_PROXIES": _number(env, "TRUSTED_PROXIES", 0, int),
        # Other origins whose pages may open live sockets (besides the app's own), comma-separated.
        "ALLOWED_ORIGINS": [o.strip().rstrip("/") for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip()],
        "WTF_CSRF_ENABLED": True,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or None,
        # Background jobs (Celery, app/jobs): see README "Background jobs".
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL") or env.get("REDIS_URL") or "filesystem://",
        "JOBS_DIR": env.get("JOBS_DIR") or str(instance_dir / "celery"),  # the embedded broker, locks, beat
        "JOBS_KEY_PREFIX": env.get("JOBS_KEY_PREFIX", "td:jobs:"),  # broker, RedBeat, locks, heartbeats
        "JOBS_VISIBILITY_TIMEOUT_S": _number(env, "JOBS_VISIBILITY_TIMEOUT_S", 3600.0, float),
        # Run worker computations (scores, performance) in the asking process: unit tests only.
        "JOBS_INLINE_COMPUTE": _bool(env.get("JOBS_INLINE_COMPUTE"), default=False),
        # The same for forecasts and backtests (default: as JOBS_INLINE_COMPUTE): unit tests only.
        "JOBS_INLINE_RESEARCH": _bool(env.get("JOBS_INLINE_RESEARCH"), default=None),
        "JOBS_QUOTES_OPEN_S": _number(env, "JOBS_QUOTES_OPEN_S", 60.0, float),
        "JOBS_QUOTES_CLOSED_S": _number(env, "JOBS_QUOTES_CLOSED_S", 900.0, float),
        "JOBS_SCORES_OPEN_S": _number(env, "JOBS_SCORES_OPEN_S", 300.0, float),
        "JOBS_SCORES_CLOSED_S": _number(env, "JOBS_SCORES_CLOSED_S", 3600.0, float),
        "JOBS_HEARTBEAT_S": _number(env, "JOBS_HEARTBEAT_S", 15.0, float),
        "JOBS_HEARTBEAT_STALE_S": _number(env, "JOBS_HEARTBEAT_STALE_S", 90.0, float),
        "JOBS_SCHEDULE": _csv(env.get("JOBS_SCHEDULE", ",".join(JOB_FAMILIES))),
        "JOBS_SWEEP_S": _number(env, "JOBS_SWEEP_S", 60.0, float),  # deliveries that never got going
        "JOBS_METRICS_PORT": _number(env, "JOBS_METRICS_PORT", 0, int),  # the worker's /metrics; 0: none
        # Market data the pages read, kept warm (app/jobs/data.py, warmup.py): see README "Background jobs".
        "JOBS_NEWS_S": _number(env, "JOBS_NEWS_S", 900.0, float),
        "JOBS_NEWS_ROTATION": _number(env, "JOBS_NEWS_ROTATION", 30, int),  # index constituents per news run
        "JOBS_BARS_S": _number(env, "JOBS_BARS_S", 900.0, float),  # looks for exchanges that closed a session
        "JOBS_FX_S": _number(env, "JOBS_FX_S", 3600.0, float),  # looks for rates older than JOBS_FX_PERIOD_S
        "JOBS_FX_PERIOD_S": _number(env, "JOBS_FX_PERIOD_S", 86400.0, float),
        "JOBS_PROFILES_S": _number(env, "JOBS_PROFILES_S", 3600.0, float),
        "JOBS_SPLITS_S": _number(env, "JOBS_SPLITS_S", 21600.0, float),  # held and alerted stocks' splits
        "JOBS_PROFILES_ROTATION": _number(env, "JOBS_PROFILES_ROTATION", 12, int),  # symbols per profiles run
        "JOBS_PROFILES_PERIOD_S": _number(env, "JOBS_PROFILES_PERIOD_S", 604800.0, float),  # one pass a week
        # Calls a job may make per minute to a provider metered per minute (Finnhub's free tier: 60).
        "JOBS_PROVIDER_CALLS_PER_MIN": _number(env, "JOBS_PROVIDER_CALLS_PER_MIN", 30.0, float),
        "JOBS_WARMUP_ACTIVE_DAYS": _number(env, "JOBS_WARMUP_ACTIVE_DAYS", 7, int),  # 0: no warm-up
        "JOBS_WARMUP_ONCE_S": _number(env, "JOBS_WARMUP_ONCE_S", 600.0, float),  # workers starting within: one
        # job_runs (app/jobs/runs.py): the newest runs kept per task, pruned every Nth run a process records.
        "JOBS_RUNS_KEEP": _number(env, "JOBS_RUNS_KEEP", 200, int),
        "JOBS_RUNS_PRUNE_EVERY": _number(env, "JOBS_RUNS_PRUNE_EVERY", 20, int),
        # Forecast models (app/research/forecasts.py, app/jobs/research.py): see README "Forecasts and backtests".
        "JOBS_FORECASTS_S": _number(env, "JOBS_FORECASTS_S", 3600.0, float),  # looks for models past their period
        "JOBS_FORECASTS_PERIOD_S": _number(env, "JOBS_FORECASTS_PERIOD_S", 604800.0, float),  # retrain weekly
        "FORECAST_DIR": env.get("FORECAST_DIR") or str(instance_dir / "models"),  # the joblib files
        "FORECAST_YEARS": _number(env, "FORECAST_YEARS", 11, int),  # history trained on (the first year: look-back)
        # The stock page's narrative (app/research/narrative.py): an OpenAI-compatible chat-completions
        # endpoint, optional; without LLM_BASE_URL the text is built from a template, with no network.
        "LLM_BASE_URL": (env.get("LLM_BASE_URL") or "").strip().rstrip("/") or None,
        "LLM_API_KEY": env.get("LLM_API_KEY") or None,
        "LLM_MODEL": env.get("LLM_MODEL") or "gpt-4o-mini",
        "LLM_TIMEOUT_S": _number(env, "LLM_TIMEOUT_S", 15.0, float),
        "LLM_CACHE_S": _number(env, "LLM_CACHE_S", 604800.0, float),  # a generated text is kept a week
        # Alert delivery (app/notify, app/jobs/delivery.py): see README "Notifications".
        "SMTP_HOST": env.get("SMTP_HOST") or None,  # unset: emails go to the user's outbox (and the log)
        "SMTP_PORT": _number(env, "SMTP_PORT", 587, int),
        "SMTP_USER": env.get("SMTP_USER") or None,
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": _bool(env.get("SMTP_STARTTLS"), default=True),
        "SMTP_TIMEOUT_S": _number(env, "SMTP_TIMEOUT_S", 10.0, float),
        "MAIL_FROM": env.get("MAIL_FROM") or "Tickerdesk <alerts@localhost>",
        "WEBHOOK_TIMEOUT_S": _number(env, "WEBHOOK_TIMEOUT_S", 5.0, float),
        "WEBHOOK_ALLOW_PRIVATE": not production,  # SSRF: production posts to public https addresses only
        "WEBHOOKS_MAX": _number(env, "WEBHOOKS_MAX", 3, int),
        "DELIVERY_MAX_ATTEMPTS": _number(env, "DELIVERY_MAX_ATTEMPTS", 5, int),
        "DELIVERY_RETRY_BASE_S": _number(env, "DELIVERY_RETRY_BASE_S", 30.0, float),
        "DELIVERY_PARALLEL": _number(env, "DELIVERY_PARALLEL", 8, int),  # sends at once within a batch task
    }
    cfg["MARKET_BUDGET_S"] = _number(env, "MARKET_BUDGET_S", 8.0, float)
    for provider in ("YAHOO", "FINNHUB", "ALPHAVANTAGE"):  # per-provider knobs, only when given
        for knob, kind in (("BATCH_SIZE", int), ("RATE_PER_S", float), ("CONCURRENCY", int), ("TIMEOUT_S", float)):
            name = f"{provider}_{knob}"
            if (env.get(name) or "").strip():
                cfg[name] = _number(env, name, None, kind)
        if (env.get(f"{provider}_BUDGET") or "").strip():  # the shared budget, e.g. "60/minute;30/second"
            cfg[f"{provider}_BUDGET"] = _budget(env, f"{provider}_BUDGET")
    if cfg["YAHOO_QUOTE_API"] not in ("v7", "chart"):
        raise ConfigError(f"YAHOO_QUOTE_API must be v7 or chart, not {cfg['YAHOO_QUOTE_API']!r}")
    # Shared provider budgets (README "Market data"): the pipeline's share of every window, and
    # where the windows live without Redis (default: JOBS_DIR/provider_budget.sqlite3).
    cfg["BUDGET_BACKGROUND_SHARE"] = _number(env, "BUDGET_BACKGROUND_SHARE", 0.8, float)
    if not 0.0 <= cfg["BUDGET_BACKGROUND_SHARE"] <= 1.0:
        raise ConfigError(f"BUDGET_BACKGROUND_SHARE must be between 0 and 1, not {cfg['BUDGET_BACKGROUND_SHARE']}")
    cfg["BUDGET_SQLITE_PATH"] = env.get("BUDGET_SQLITE_PATH") or None
    cfg["BUDGET_KEY_PREFIX"] = env.get("BUDGET_KEY_PREFIX") or None  # default: CACHE_KEY_PREFIX + "budget"
    cfg["RATELIMIT_STORAGE_URI"] = cfg["REDIS_URL"] or "memory://"
    if cfg["REDIS_URL"]:  # a Redis that stops answering must not hold requests up
        cfg["RATELIMIT_STORAGE_OPTIONS"] = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    cfg["JWT_SECRET_KEY"] = env.get("JWT_SECRET_KEY") or cfg["SECRET_KEY"]
    if len(cfg["BASE_CURRENCY"]) != 3 or not cfg["BASE_CURRENCY"].isalpha():
        raise ConfigError(f"BASE_CURRENCY must be a three-letter currency code, not {cfg['BASE_CURRENCY']!r}")
    if production and cfg["JOBS_INLINE_COMPUTE"]:
        raise ConfigError("JOBS_INLINE_COMPUTE is for tests: in production the workers compute scores and performance")
    if cfg["LIVE_STREAMER"] not in ("web", "off"):
        raise ConfigError(f"LIVE_STREAMER must be 'web' (web processes may run the streamer) or 'off' "
                          f"(only `flask live stream` does), not {cfg['LIVE_STREAMER']!r}")
    unknown_jobs = set(cfg["JOBS_SCHEDULE"]) - set(JOB_FAMILIES)
    if unknown_jobs:
        raise ConfigError(f"JOBS_SCHEDULE names unknown jobs: {', '.join(sorted(unknown_jobs))} "
                          f"(known: {', '.join(JOB_FAMILIES)})")
    cfg.update(overrides or {})
    if cfg["JOBS_INLINE_RESEARCH"] is None:
        cfg["JOBS_INLINE_RESEARCH"] = bool(cfg["JOBS_INLINE_COMPUTE"])
    elif production and cfg["JOBS_INLINE_RESEARCH"]:
        raise ConfigError("JOBS_INLINE_RESEARCH is for tests: in production the workers train and backtest")
    return cfg


def database_url(raw: str | None, instance_dir: Path = INSTANCE_DIR) -> str:
    """Return the SQLAlchemy URL for `DATABASE_URL`, accepting Render's `postgres://` form."""
    if not raw:
        instance_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{instance_dir / 'tickerdesk.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def _secret_key(env: Mapping[str, str], production: bool, instance_dir: Path) -> str:
    key = env.get("SECRET_KEY", "").strip()
    if key:
        if production and len(key) < 32:
            raise ConfigError("SECRET_KEY is too short for production: use at least 32 random characters")
        return key
    if production:
        raise ConfigError(
            "SECRET_KEY is not set. In production the app refuses to start without it: "
            "set SECRET_KEY to a long random string (Render's render.yaml generates one)."
        )
    # Development: one random key, generated once and kept in instance/ (never in the code).
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _budget(env: Mapping[str, str], name: str) -> str:
    from limits import parse_many  # Flask-Limiter's own dependency

    raw = env[name].strip()
    if raw.lower() not in ("off", "none"):
        try:
            parse_many(raw)
        except ValueError:
            raise ConfigError(f"{name} must be limits like '60/minute;30/second' (or 'off'), not {raw!r}") from None
    return raw


def _csv(raw: str) -> list[str]:
    return [part.strip().lower() for part in raw.split(",") if part.strip()]


def _bool(raw: str | None, *, default: bool) -> bool:
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _number(env: Mapping[str, str], name: str, default: Any, kind: type) -> Any:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
