"""When the dispatcher tries again: exponential backoff with equal jitter under a cap, or the
provider's Retry-After when it asks for longer."""

from __future__ import annotations

import random

from services.common.backoff import backoff_s
from services.notify.domain.delivery import parse_retry_after, retry_delay_s


def test_backoff_grows_exponentially_with_equal_jitter_under_the_cap() -> None:
    rng = random.Random(7)
    for attempt, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (10, 60.0)):
        delays = [backoff_s(attempt, 2.0, 60.0, rng) for _ in range(500)]
        assert min(delays) >= ceiling / 2 and max(delays) <= ceiling
        assert max(delays) > ceiling * 0.95 and min(delays) < ceiling * 0.55  # the whole half


def test_retry_after_is_honoured_even_beyond_the_cap() -> None:
    assert retry_delay_s(1, 120.0, 2.0, 60.0) == 120.0
    assert 1.0 <= retry_delay_s(1, None, 2.0, 60.0) <= 2.0


def test_a_short_retry_after_does_not_cut_the_backoff() -> None:
    # A provider throttling for minutes answers "Retry-After: 1" every time.
    assert 64.0 <= retry_delay_s(7, 1.0, 2.0, 900.0) <= 128.0


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None
