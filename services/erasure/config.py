from __future__ import annotations

import base64

from pydantic import SecretStr, field_validator

from services.common.settings import ServiceSettings


class ErasureSettings(ServiceSettings):
    service_name = "erasure"
    default_grpc_port = 50054
    default_http_port = 8084

    # Key-encryption key (base64, 32 bytes). A KMS holds it in production.
    kek: SecretStr
    # Keys the hashes that name erased members in the erasure ledger (never rotated: a new
    # key would orphan every entry made under the old one).
    ledger_key: SecretStr
    # Platform operator's token: `kontingent erasure replay` (ErasureLedger.Replay).
    admin_token: SecretStr

    # The stores the erasure pipeline drives (membership's address is common).
    billing_addr: str = "127.0.0.1:50052"
    notify_addr: str = "127.0.0.1:50053"
    # Sub-processors; an empty key or account means not configured (the local sandbox), and
    # a member with messages there then keeps their erasure open until it is.
    sendgrid_api_key: SecretStr = SecretStr("")
    sendgrid_base_url: str = "https://api.sendgrid.com"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_base_url: str = "https://api.twilio.com"
    provider_timeout_s: float = 10.0
    # The pipeline: a pass at least this often, retries from the base doubling to the cap.
    erasure_poll_s: float = 1.0
    erasure_backoff_base_s: float = 2.0
    erasure_backoff_cap_s: float = 3600.0
    # First wait before asking a vendor that deletes later (SendGrid) whether it is done;
    # doubles each time: not confirmed after 5 polls (about 30 times this) alerts as stuck.
    erasure_confirm_poll_base_s: float = 60.0
    erasure_target_deadline_s: float = 30.0
    request_metrics_interval_s: float = 15.0
    # Access and portability: the archive's one-time link is signed with EXPORT_LINK_KEY,
    # points at PUBLIC_BASE_URL/exports/..., and expires after EXPORT_LINK_TTL_S (the archive
    # is emptied then, by a sweep every EXPORT_SWEEP_INTERVAL_S).
    export_link_key: SecretStr = SecretStr("")
    export_link_ttl_s: int = 7 * 24 * 3600
    public_base_url: str = "http://127.0.0.1:8084"
    export_sweep_interval_s: float = 300.0

    @field_validator("kek")
    @classmethod
    def _kek_is_256_bits(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except ValueError as exc:
            raise ValueError("KEK must be base64") from exc
        if len(raw) != 32:
            raise ValueError("KEK must decode to 32 bytes")
        return value

    @property
    def kek_bytes(self) -> bytes:
        return base64.b64decode(self.kek.get_secret_value())
