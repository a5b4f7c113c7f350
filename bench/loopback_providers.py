"""The loopback SendGrid and Twilio servers for the benchmarks, each in a process of its own
(so that its CPU is counted apart from ours), and the settings that point the stack's
services at them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.loopback import sendgrid as sendgrid_loopback
from tests.loopback import twilio as twilio_loopback

ROOT = Path(__file__).resolve().parents[1]
SENDGRID = "tests.loopback.sendgrid"
TWILIO = "tests.loopback.twilio"
# A provider's own client-side rate limit lifted, so that it does not decide the figure.
UNLIMITED = "1000000"


@contextmanager
def loopback_server(module: str) -> Iterator[tuple[int, str]]:
    """`python -m <module>`, which prints its base URL first: (its pid, the URL); always
    stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise SystemExit(f"the loopback server {module} did not start")
        yield proc.pid, base_url
    finally:
        proc.terminate()
        proc.wait(10)


def sendgrid_settings(base_url: str) -> dict[str, str]:
    return {"SENDGRID_API_KEY": sendgrid_loopback.API_KEY, "SENDGRID_BASE_URL": base_url}


def twilio_settings(base_url: str) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": twilio_loopback.ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": twilio_loopback.AUTH_TOKEN,
        "TWILIO_BASE_URL": base_url,
    }


def stack_env(sendgrid_url: str, twilio_url: str) -> dict[str, dict[str, str]]:
    """The stack's settings for notify sending (and erasure erasing) at these providers."""
    providers = {**sendgrid_settings(sendgrid_url), **twilio_settings(twilio_url)}
    return {
        "notify": {
            "EMAIL_MODE": "sendgrid",
            "SMS_MODE": "twilio",
            **providers,
            "TWILIO_FROM": "+4790000000",
            "SENDGRID_REQUESTS_PER_S": UNLIMITED,
            "TWILIO_REQUESTS_PER_S": UNLIMITED,
        },
        "erasure": providers,
    }
