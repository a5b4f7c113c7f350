"""Stripe, SendGrid and Twilio answering 429 (with Retry-After) and then 5xx for a while,
mid-stream. Billing and notify back off and try again with the same idempotency (the
PaymentIntent's key; the message id SendGrid and Twilio are asked about before a resend), so
when the providers recover every payment is started once and every receipt sent once."""

from __future__ import annotations

import time

import pytest

from tests.drills.conftest import LOAD_TIMEOUT_S, MEMBERS, TEST_TIMEOUT_S
from tests.drills.rig import Rig

pytestmark = [pytest.mark.drill, pytest.mark.timeout(TEST_TIMEOUT_S)]

SPELL_S = 10.0  # how long each kind of failure lasts


def test_providers_throttling_then_failing_leave_no_gap_and_no_double(rig: Rig) -> None:
    api_key = rig.org("Leverandør IL", "974760673")
    load = rig.start_load(api_key, MEMBERS)
    time.sleep(5)
    for status in (429, 503):
        for proxy in rig.providers:
            proxy.failing_status = status
        time.sleep(SPELL_S)
    for proxy in rig.providers:
        proxy.failing_status = 0

    traffic = load.result(timeout=LOAD_TIMEOUT_S)
    problems = rig.problems(api_key, traffic)

    refused = {proxy.upstream: proxy.refused for proxy in rig.providers}
    assert all(refused.values()), f"a provider was never called while failing: {refused}"
    assert problems == [], problems[:20]
