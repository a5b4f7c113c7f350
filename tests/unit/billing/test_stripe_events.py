"""What billing keeps of a Stripe event (no I/O): only the fields it acts on, never the
personal data a Stripe object carries; and the settings a Stripe rotation needs."""

from __future__ import annotations

import pytest

from services.billing.adapters.stripe_gateway import (
    CheckoutGateway,
    PaymentIntentsGateway,
    StripeConfig,
    make_gateway,
)
from services.billing.config import BillingSettings
from services.billing.service_layer.stripe_events import essentials

INTENT = {
    "id": "pi_1",
    "object": "payment_intent",
    "amount": 50_000,
    "amount_received": 50_000,
    "currency": "nok",
    "status": "requires_payment_method",
    "receipt_email": "kari@example.no",
    "shipping": {"name": "Kari Nordmann", "address": {"line1": "Storgata 1"}},
    "metadata": {"invoice_id": "inv-1", "org_id": "org-a", "note": "Kari"},
    "last_payment_error": {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "payment_method": {
            "billing_details": {"email": "kari@example.no"},
            "card": {"last4": "0002"},
        },
    },
}


def test_payment_intent_keeps_ids_amount_and_decline_code_only() -> None:
    kept = essentials("payment_intent.payment_failed", INTENT)
    assert kept == {
        "id": "pi_1",
        "amount": 50_000,
        "currency": "nok",
        "status": "requires_payment_method",
        "metadata": {"invoice_id": "inv-1", "org_id": "org-a"},
        "decline_code": "insufficient_funds",
    }
    assert "kari" not in repr(kept).lower()


def test_charge_refunds_are_kept_when_listed_in_full() -> None:
    charge = {
        "id": "ch_1",
        "amount": 50_000,
        "amount_captured": 50_000,
        "currency": "nok",
        "payment_intent": "pi_1",
        "billing_details": {"email": "kari@example.no"},
        "refunds": {
            "has_more": False,
            "data": [{"id": "re_1", "amount": 100, "status": "succeeded", "reason": None}],
        },
    }
    kept = essentials("charge.refunded", charge)
    assert kept["refunds"] == [{"id": "re_1", "amount": 100, "status": "succeeded"}]
    assert kept["payment_intent"] == "pi_1"
    assert "kari" not in repr(kept).lower()


@pytest.mark.parametrize(
    "refunds", [None, {"has_more": True, "data": []}, {"object": "list", "url": "/v1/refunds"}]
)
def test_charge_refunds_not_listed_in_full_are_fetched_later(refunds: object) -> None:
    charge = {"id": "ch_1", "amount": 1, "currency": "nok", "payment_intent": {"id": "pi_1"}}
    if refunds is not None:
        charge["refunds"] = refunds
    kept = essentials("charge.refunded", charge)
    assert kept["refunds"] is None  # the processor asks Stripe
    assert kept["payment_intent"] == "pi_1"


def test_unknown_types_keep_only_the_object_id() -> None:
    assert essentials("invoice.finalized", {"id": "in_1", "customer_email": "a@b.no"}) == {
        "id": "in_1"
    }


def test_webhook_secrets_are_comma_separated_for_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", "whsec_new, whsec_old")
    settings = BillingSettings(internal_token="t", pseudonym_key="k")  # type: ignore[arg-type]
    assert [s.get_secret_value() for s in settings.stripe_webhook_secrets] == [
        "whsec_new",
        "whsec_old",
    ]
    assert settings.stripe_payment_flow == "payment_intents"
    assert "whsec_new" not in repr(settings)  # secrets are never logged


async def test_the_setting_chooses_the_payment_flow() -> None:
    config = StripeConfig(api_key="sk_test_x", api_base="http://127.0.0.1:9")
    assert isinstance(make_gateway("payment_intents", config), PaymentIntentsGateway)
    assert isinstance(make_gateway("checkout", config), CheckoutGateway)
    with pytest.raises(ValueError):
        make_gateway("invoices", config)


def test_refund_update_keeps_ids_amount_status_and_failure_reason_only() -> None:
    refund = {
        "id": "re_1",
        "object": "refund",
        "amount": 20_000,
        "charge": {"id": "ch_1", "billing_details": {"email": "kari@example.no"}},
        "payment_intent": {"id": "pi_1", "receipt_email": "kari@example.no"},
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
        "metadata": {"invoice_id": "inv-1", "org_id": "org-a", "note": "Kari"},
        "destination_details": {"card": {"reference": "ARN123"}},
    }
    for event_type in ("charge.refund.updated", "refund.updated", "refund.failed"):
        kept = essentials(event_type, refund)
        assert kept == {
            "id": "re_1",
            "amount": 20_000,
            "status": "failed",
            "payment_intent": "pi_1",
            "metadata": {"invoice_id": "inv-1", "org_id": "org-a"},
            "failure_reason": "expired_or_canceled_card",
        }
        assert "kari" not in repr(kept).lower()
