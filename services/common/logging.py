"""Structured JSON logs that never carry personal data or secrets.

Values under sensitive keys are replaced before rendering, whatever the caller passed,
so a careless `log.info("x", email=...)` still prints nothing personal.
"""

from __future__ import annotations

import logging
import logging.config
from collections.abc import MutableMapping
from typing import Any

import structlog

SENSITIVE_KEYS = frozenset(
    {"name", "address", "birth_date", "key", "body", "to", "recipient", "contact"}
)
# Any key containing one of these is sensitive too: user_email, api_key, admin_token, ...
SENSITIVE_PARTS = (
    "email",
    "phone",
    "token",
    "secret",
    "password",
    "api_key",
    "kek",
    "authorization",
)
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


_process = {"service": ""}


def add_service(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Not a context variable: records from library threads (kafka-python) carry it too.
    event.setdefault("service", _process["service"])
    return event


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]


def logging_config(level: str = "info") -> dict[str, Any]:
    """dictConfig for the standard library's loggers (faust, aiokafka, grpc, ...), so their
    records come out as the same redacted JSON lines as ours."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": _shared_processors(),
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
    }


def configure(service: str, level: str = "info") -> None:
    _process["service"] = service
    logging.config.dictConfig(logging_config(level))
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
