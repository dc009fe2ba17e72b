"""Structured logs (structlog): JSON in production, readable in development, secrets redacted.

Every line carries the request id bound in `app.ops.request_id`.

structlog's own loggers take structlog's fast path (its "Performance" advice): a level-filtering
bound logger whose processors render the line and write it straight to stderr, with no stdlib
`LogRecord` on the way. The standard library's loggers (gunicorn, SQLAlchemy, the HTTP
providers) go through one handler on the root logger that renders with the same processors,
so both kinds of line look alike.
"""
from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import orjson
import structlog

_SECRET_KEYS = re.compile(r"pass(word)?|token|secret|api_?key|authorization|cookie|crumb", re.I)
_NOT_SECRET = frozenset({"token_version"})
# key=value pairs in free text, e.g. a URL's "?token=abc&apikey=xyz".
_SECRET_PAIRS = re.compile(r"(?i)\b(token|apikey|api_key|password|secret|access_token|refresh_token)=([^&\s\"']+)")
_BEARER = re.compile(r"(?i)bearer\s+[a-z0-9._\-]+")
# SQLAlchemy's error text ends with the statement's bound values ("[parameters: ('a@b.c', ...)]"):
# emails, names, notes. The engine hides them (hide_parameters); this catches any other path.
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
# PostgreSQL's own message quotes values too: "DETAIL:  Key (user_id, name)=(7, Tech) already
# exists." or "Failing row contains (...)". Column names stay, values go.
_DB_DETAIL = re.compile(r"(DETAIL:\s+(?:Key \([^)\n]*\)=|Failing row contains ))\([^\n]*")
_key_is_secret: dict[str, bool] = {}  # memo of _SECRET_KEYS per key name (a handful of names recur)


def redact_text(text: str) -> str:
    """Return `text` with key=value secrets, bearer tokens and SQL parameter values masked."""
    if "[parameters: " in text:
        text = _SQL_PARAMETERS.sub("[parameters: redacted]", text)
    if "DETAIL:" in text:
        text = _DB_DETAIL.sub(r"\1(redacted)", text)
    if "=" in text:
        text = _SECRET_PAIRS.sub(lambda m: f"{m.group(1)}=***", text)
    return _BEARER.sub("Bearer ***", text)


def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask values whose key names a secret, and secrets inside strings."""
    return {key: _redact_value(key, value) for key, value in event.items()}


def _is_secret_key(key: str) -> bool:
    found = _key_is_secret.get(key)
    if found is None:
        found = bool(_SECRET_KEYS.search(key)) and key not in _NOT_SECRET
        if len(_key_is_secret) < 4096:
            _key_is_secret[key] = found
    return found


def _redact_value(key: str, value: Any) -> Any:
    if _is_secret_key(key):
        return "***"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    return value


def _json(event: dict[str, Any], **_kw: Any) -> str:
    return orjson.dumps(event, default=repr).decode()


class StderrLogger:
    """structlog's final logger: writes each rendered line to whatever `sys.stderr` is now.

    Looked up per line, not bound once: loggers are cached on first use, and a test's captured
    stderr (or a re-opened one) must still receive later lines.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name  # read by structlog.stdlib.add_logger_name

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warning = warn = error = critical = exception = fatal = failure = err = msg


def _stderr_logger_factory(*args: Any) -> StderrLogger:
    return StderrLogger(str(args[0]) if args else "")


class _LevelFilter:
    """First processor: drop events below the configured level (set again by each configure_logging)."""

    level = logging.INFO

    def __call__(self, _logger: Any, method_name: str, event: dict[str, Any]) -> dict[str, Any]:
        if _LEVELS.get(method_name, logging.INFO) < self.level:
            raise structlog.DropEvent
        return event


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "warn": logging.WARNING,
           "error": logging.ERROR, "exception": logging.ERROR, "critical": logging.CRITICAL,
           "fatal": logging.CRITICAL}
_level_filter = _LevelFilter()
# Loggers are cached on first use and keep the processor list and wrapper class they were
# built with: configure_logging therefore fills this one list in place (the app factory runs
# once per app, tests build many with different levels and renderers), and the level check
# is a processor rather than the wrapper class.
_PROCESSORS: list[Any] = []
_WRAPPER = structlog.make_filtering_bound_logger(logging.DEBUG)


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    """Route structlog and the standard library through one redacting renderer on stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    renderer = (structlog.processors.JSONRenderer(serializer=_json) if json
                else structlog.dev.ConsoleRenderer(colors=False))
    numeric_level = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    _level_filter.level = numeric_level if isinstance(numeric_level, int) else logging.INFO
    _PROCESSORS[:] = [_level_filter, *shared, renderer]
    structlog.configure(
        processors=_PROCESSORS,
        logger_factory=_stderr_logger_factory,
        wrapper_class=_WRAPPER,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_tickerdesk", False):
            root.removeHandler(old)
    handler._tickerdesk = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # werkzeug's access log repeats what our request log says; keep its warnings only.
    logging.getLogger("werkzeug").setLevel(max(logging.WARNING, root.level))
