"""The broker unreachable for 30 s mid-stream (paused with SIGSTOP: the local broker keeps
its log only in memory, so a restart would lose it). Sign-ups go on being accepted into the
outbox, which holds them, and drains when the broker answers again."""

from __future__ import annotations

import signal
import time

import pytest

from tests.drills.conftest import LOAD_TIMEOUT_S, MEMBERS, TEST_TIMEOUT_S
from tests.drills.rig import Rig

pytestmark = [pytest.mark.drill, pytest.mark.timeout(TEST_TIMEOUT_S)]

PAUSE_S = 30.0


def test_the_outbox_holds_while_the_broker_is_away_then_drains(rig: Rig) -> None:
    api_key = rig.org("Pause IL", "974760673")
    stack = rig.stack
    load = rig.start_load(api_key, MEMBERS)
    time.sleep(5)
    registered_before = load.traffic.registered
    stack.signal("broker", signal.SIGSTOP)
    try:
        time.sleep(PAUSE_S)
        held = stack.metric("membership", "membership_outbox_backlog_events")
        registered_during = load.traffic.registered - registered_before
    finally:
        stack.signal("broker", signal.SIGCONT)

    traffic = load.result(timeout=LOAD_TIMEOUT_S)
    problems = rig.problems(api_key, traffic)

    assert registered_during > 0, "sign-ups stopped while only the broker was away"
    assert held > 0, "nothing waited in membership's outbox while the broker was away"
    assert problems == [], problems[:20]
    assert stack.metric("membership", "membership_outbox_backlog_events") == 0
