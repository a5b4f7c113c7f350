from __future__ import annotations

from pydantic import SecretStr

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
