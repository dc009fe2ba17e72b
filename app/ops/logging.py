"""Structured logs (structlog): JSON in production, readable in development, secrets redacted.

Every line carries the request id bound in `app.ops.request_id`.
"""
from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"pass(word)?|token|secret|api_?key|authorization|cookie|crumb", re.I)
# key=value pairs in free text, e.g. a URL's "?token=abc&apikey=xyz".
_SECRET_PAIRS = re.compile(r"(?i)\b(token|apikey|api_key|password|secret|access_token|refresh_token)=([^&\s\"']+)")
_BEARER = re.compile(r"(?i)bearer\s+[a-z0-9._\-]+")


def redact_text(text: str) -> str:
    """Return `text` with key=value secrets and bearer tokens masked."""
    text = _SECRET_PAIRS.sub(lambda m: f"{m.group(1)}=***", text)
    return _BEARER.sub("Bearer ***", text)


def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask values whose key names a secret, and secrets inside strings."""
    return {key: _redact_value(key, value) for key, value in event.items()}


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key) and key not in ("token_version",):
        return "***"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    return value


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
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
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
