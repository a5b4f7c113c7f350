"""The delivery webhooks' rules, without I/O: which inbound SMS opt out, which states a late
event may replace, and what a SendGrid batch must look like."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notify.domain.delivery_events import (
    Malformed,
    is_opt_out,
    moves_forward,
    sendgrid_events,
)

NOW = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.mark.parametrize("body", ["STOP", "stop", " Stopp\n", "STOPP.", "avmeld", "Avmeld!"])
def test_stop_stopp_and_avmeld_opt_out(body: str) -> None:
    assert is_opt_out(body)


@pytest.mark.parametrize("body", ["", "stop please", "STOP STOP", "ikke stopp", "START", "hei"])
def test_anything_else_does_not(body: str) -> None:
    assert not is_opt_out(body)


def test_a_message_only_moves_forward() -> None:
    assert moves_forward("sent", "delivered")
    assert moves_forward("delivered", "spam-reported")
    assert moves_forward("delivered", "bounced")
    assert not moves_forward("spam-reported", "delivered")
    assert not moves_forward("bounced", "delivered")
    assert not moves_forward("delivered", "delivered")


def test_a_batch_keeps_our_id_and_tells_hard_from_soft_bounces() -> None:
    hard, soft, other = sendgrid_events(
        [
            {"sg_event_id": "a", "event": "bounce", "message_id": "m1", "timestamp": 1.8e9},
            {"sg_event_id": "b", "event": "bounce", "type": "blocked", "email": "x@y.no"},
            {"sg_event_id": "c", "event": "open"},
        ],
        NOW,
    )
    assert (hard.message_id, hard.hard_bounce, hard.at.year) == ("m1", True, 2027)
    assert (soft.hard_bounce, soft.at, soft.email) == (False, NOW, "x@y.no")
    assert (other.message_id, other.label) == (None, "other")


@pytest.mark.parametrize(
    "batch", [{}, [1], [{"event": "delivered"}], [{"sg_event_id": "", "event": "x"}]]
)
def test_anything_but_a_list_of_events_is_malformed(batch: object) -> None:
    with pytest.raises(Malformed):
        sendgrid_events(batch, NOW)
