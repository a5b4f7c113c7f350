"""Logs never carry personal data or secrets, whatever the caller passed."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from services.common.logging import REDACTED, configure, get_logger, redact

EMAIL = "kari.nordmann@example.no"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Tests call configure() in their body (where capsys captures stderr); afterwards
    structlog and the root logger are put back as they were."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "field",
    [
        "email",
        "phone",
        "name",
        "api_key",
        "token",
        "secret",
        "password",
        "authorization",
        "address",
        "kek",
        "Email",
    ],
)
def test_sensitive_keys_are_redacted(field: str) -> None:
    event = redact(None, "info", {"event": "x", field: "sensitive-value"})
    assert event[field] == REDACTED


def test_other_keys_are_kept() -> None:
    event = redact(None, "info", {"event": "member_registered", "member_id": "m-1"})
    assert event == {"event": "member_registered", "member_id": "m-1"}


def test_email_never_reaches_the_log_output(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("test-service", "info")
    get_logger("test").info(
        "member_registered",
        member_id="m-1",
        email=EMAIL,
        phone="+4791234567",
        api_key="kt_abc_supersecret",
    )
    output = capsys.readouterr().err
    assert "member_registered" in output
    assert EMAIL not in output
    assert "+4791234567" not in output
    assert "supersecret" not in output
    line = json.loads(output.strip().splitlines()[-1])
    assert line["member_id"] == "m-1"
    assert line["email"] == REDACTED
    assert line["service"] == "test-service"
    assert line["level"] == "info"


def test_log_output_is_one_json_object_per_line(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("test-service", "info")
    log = get_logger("test")
    log.info("first", n=1)
    log.warning("second", n=2)
    lines = log_lines(capsys)
    assert [(line["event"], line["n"]) for line in lines] == [("first", 1), ("second", 2)]


def test_messages_below_the_level_are_dropped(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("test-service", "info")
    get_logger("test").debug("chatty")
    assert log_lines(capsys) == []


def test_nested_and_compound_keys_are_redacted_too() -> None:
    event = redact(
        None,
        "info",
        {
            "event": "member_synced",
            "user_email": EMAIL,
            "member": {"email": EMAIL, "status": "active", "contact": {"phone": "+4791234567"}},
            "count": 3,
        },
    )
    assert EMAIL not in str(event) and "+4791234567" not in str(event)
    assert event["member"]["status"] == "active" and event["count"] == 3
