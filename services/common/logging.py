"""Structured JSON logs that never carry personal data or secrets.

Values under sensitive keys are replaced before rendering, whatever the caller passed,
so a careless `log.info("x", email=...)` still prints nothing personal.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SENSITIVE_KEYS = frozenset(
    {"name", "address", "birth_date", "key", "body", "to", "recipient", "contact"}
)
# Any key containing one of these is sensitive too: user_email, api_key, admin_token, ...
SENSITIVE_PARTS = ("email", "phone", "token", "secret", "password", "api_key", "kek",
                   "authorization")
REDACTED = "[redacted]"


def _is_sensitive(field: str) -> bool:
    lowered = field.lower()
    return lowered in SENSITIVE_KEYS or any(part in lowered for part in SENSITIVE_PARTS)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if _is_sensitive(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for field in list(event):
        if field == "event":
            continue
        event[field] = REDACTED if _is_sensitive(field) else _scrub(event[field])
    return event


def configure(service: str, level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(stream=sys.stderr, level=numeric, format="%(message)s", force=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
