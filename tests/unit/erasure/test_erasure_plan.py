"""The plan's order and its retry timing: the key shredding always last, sub-processors after
the store that lists their records, backoff growing to its cap with jitter."""

from __future__ import annotations

import random

import pytest

from services.common.backoff import backoff_s
from services.erasure.domain.plan import DONE, PENDING, runnable
from services.erasure.service_layer.targets import KEY_TARGET, Target, TargetRegistry


class Nothing:
    async def erase(self, job):  # type: ignore[no-untyped-def]
        raise AssertionError("not called in these tests")


def _registry() -> TargetRegistry:
    return TargetRegistry(
        [
            Target("membership", Nothing()),
            Target("notify", Nothing()),
            Target("twilio", Nothing(), after=("notify",)),
        ],
        Nothing(),
    )


def test_the_key_is_shredded_after_every_registered_target() -> None:
    registry = _registry()
    assert registry.order[-1] == KEY_TARGET
    statuses = dict.fromkeys(registry.order, PENDING)
    assert runnable(statuses, registry.rules) == ["membership", "notify"]
    statuses |= {"membership": DONE, "notify": DONE}
    assert runnable(statuses, registry.rules) == ["twilio"]
    statuses["twilio"] = DONE
    assert runnable(statuses, registry.rules) == [KEY_TARGET]


def test_a_registry_mistake_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="unknown"):
        TargetRegistry([Target("twilio", Nothing(), after=("notify",))], Nothing())
    with pytest.raises(ValueError, match="unique"):
        TargetRegistry([Target("a", Nothing()), Target("a", Nothing())], Nothing())
    with pytest.raises(ValueError, match="wait on each other"):
        TargetRegistry(
            [Target("a", Nothing(), after=("b",)), Target("b", Nothing(), after=("a",))],
            Nothing(),
        )


def test_backoff_doubles_to_its_cap_with_jitter() -> None:
    rng = random.Random(7)
    delays = [backoff_s(n, 2.0, 60.0, rng) for n in range(1, 10)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(60.0, 2.0 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[-3:]}) == 3  # capped, still spread out
