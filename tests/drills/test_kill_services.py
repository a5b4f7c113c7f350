"""kill -9 of each service in turn, mid-stream, then a restart: nothing the load did is lost
or done twice. What was committed stays committed (the outbox and the inbox are in the same
transactions as the work); what was not is done again by whoever asked (the load's retries,
the broker's redelivery of unacknowledged events, Stripe's webhook)."""

from __future__ import annotations

import signal
import time

import pytest

from kontingent_cli.devstack import SERVICES
from tests.drills.conftest import LOAD_TIMEOUT_S, MEMBERS, TEST_TIMEOUT_S
from tests.drills.rig import Rig

pytestmark = [pytest.mark.drill, pytest.mark.timeout(TEST_TIMEOUT_S)]

BETWEEN_KILLS_S = 6.0  # long enough for the restarted service to be back in the stream


def test_each_service_killed_mid_stream_loses_and_doubles_nothing(rig: Rig) -> None:
    api_key = rig.org("Kill Ni IL", "974760673")
    load = rig.start_load(api_key, MEMBERS)
    killed = []
    for service in SERVICES:
        time.sleep(BETWEEN_KILLS_S)
        assert not load.done(), "the load ended before every service was killed mid-stream"
        rig.stack.signal(service, signal.SIGKILL)
        rig.stack.processes[service].wait(10)
        killed.append(service)
        rig.restart(service)

    traffic = load.result(timeout=LOAD_TIMEOUT_S)
    problems = rig.problems(api_key, traffic)

    assert killed == list(SERVICES)
    assert traffic.confirmed == MEMBERS, traffic.gave_up[:5]
    assert problems == [], problems[:20]
