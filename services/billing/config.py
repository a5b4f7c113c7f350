from __future__ import annotations

from typing import Annotated, Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import NoDecode

from services.common.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    service_name = "billing"
    default_grpc_port = 50052
    default_http_port = 8082

    default_fee_ore: int = 50_000  # NOK 500 until orgs have fee plans
    currency: str = "NOK"
    due_days: int = 14
    # Keys the pseudonyms that replace a member's id on kept payment records.
    pseudonym_key: SecretStr
    # Stripe (localstripe in the local stack). Used from the payments issue on.
    stripe_api_base: str = "http://127.0.0.1:8420"
    stripe_api_key: SecretStr = SecretStr("sk_test_local")
    # Sweeps (seconds between runs) and how far ahead of a period's end it is invoiced.
    dunning_interval_s: float = 3600
    renewal_interval_s: float = 3600
    retention_interval_s: float = 3600
    renewal_lead_days: int = 30
    # "payment_intents" (local stack, tests: localstripe has no Checkout) or "checkout".
    stripe_payment_flow: Literal["payment_intents", "checkout"] = "payment_intents"
    stripe_checkout_success_url: str = "http://127.0.0.1:8082/paid"
    stripe_checkout_cancel_url: str = "http://127.0.0.1:8082/cancelled"
    # Comma-separated in the environment: during a rotation both secrets are accepted.
    stripe_webhook_secrets: Annotated[list[SecretStr], NoDecode] = []
    stripe_webhook_tolerance_s: int = 300
    stripe_webhook_max_body_bytes: int = 256 * 1024
    # Below Stripe's own limit (25/s in test mode), so a burst queues here instead of failing.
    stripe_requests_per_s: float = 20.0
    stripe_max_network_retries: int = 2
    stripe_request_timeout_s: float = 10.0  # one HTTP request
    stripe_deadline_s: float = 30.0  # one call, its retries included
    stripe_events_interval_s: float = 30.0  # the pass for events a wake-up missed
    stripe_reconcile_interval_s: float = 600.0
    stripe_reconcile_window_s: int = 3 * 24 * 3600

    @field_validator("stripe_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
