"""Every Stripe webhook delivered ten times, in shuffled order, after the payments were made:
Stripe retries for days and promises neither once nor in order. Billing stores each event by
its id and acts on it once, so each payment is booked once and receipted once."""

from __future__ import annotations

import pytest

from tests.drills.conftest import LOAD_TIMEOUT_S, MEMBERS, TEST_TIMEOUT_S
from tests.drills.fault_proxy import describe
from tests.drills.rig import Rig

pytestmark = [pytest.mark.drill, pytest.mark.timeout(TEST_TIMEOUT_S)]

TIMES = 10


def test_each_webhook_ten_times_shuffled_books_each_payment_once(rig: Rig) -> None:
    api_key = rig.org("Webhook IL", "974760673")
    rig.webhooks.holding = True
    traffic = rig.start_load(api_key, MEMBERS).result(timeout=LOAD_TIMEOUT_S)
    held = len(rig.webhooks.held)

    statuses = rig.loop.run(rig.webhooks.replay(TIMES, seed=7), timeout_s=LOAD_TIMEOUT_S)
    problems = rig.problems(api_key, traffic)

    assert held >= traffic.confirmed, f"{held} webhooks held for {traffic.confirmed} payments"
    assert statuses == {200: held * TIMES}, describe(statuses)
    assert problems == [], problems[:20]
