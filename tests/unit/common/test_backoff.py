"""Work that keeps failing (a periodic job, a consumer waiting for its database) tries less
and less often, up to a cap; one success brings back its own pace."""

from services.common.backoff import PAUSE_CAP_S, pause_after


def test_failures_in_a_row_double_the_pause_up_to_the_cap() -> None:
    pauses = [pause_after(0.01, failures) for failures in range(1, 8)]

    assert pauses[:4] == [0.5, 1.0, 2.0, 4.0]
    assert pauses[4:] == [PAUSE_CAP_S] * 3


def test_a_success_or_a_long_interval_keeps_the_jobs_own_pace() -> None:
    assert pause_after(0.01, 0) == 0.01
    assert pause_after(3600.0, 3) == 3600.0
