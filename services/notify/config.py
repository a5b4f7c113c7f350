from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from services.common.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    service_name = "notify"
    default_grpc_port = 50053
    default_http_port = 8083

    # "sandbox" records each would-be email as a file; real SendGrid arrives with the
    # notify issue.
    email_mode: str = "sandbox"
    sandbox_dir: Path | None = None
    from_email: str = "no-reply@kontingent.local"
    # Providers (service_layer/dispatch/). EMAIL_MODE sendgrid / SMS_MODE twilio send for
    # real through the official SDKs; the base URLs point them elsewhere (loopback in tests).
    sendgrid_api_key: SecretStr = SecretStr("")
    sendgrid_base_url: str = "https://api.sendgrid.com"
    sendgrid_unsubscribe_group_id: int | None = None  # the group marketing email goes out in
    sendgrid_requests_per_s: float = 100.0
    sendgrid_concurrency: int = 16  # SDK calls in flight (worker threads)
    sms_mode: str = "sandbox"
    twilio_account_sid: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    twilio_from: str = ""
    twilio_requests_per_s: float = 50.0
    provider_timeout_s: float = 10.0
    # 20 attempts at the default backoff (2 s doubling to 15 min, equal jitter) keep trying
    # for 1.5 to 3 hours: a provider outage of that length loses no receipt.
    dispatch_max_attempts: int = 20
    dispatch_backoff_base_s: float = 2.0
    dispatch_backoff_cap_s: float = 900.0
    dispatch_batch_size: int = 200
    dispatch_poll_s: float = 1.0
    # How soon notices to orgs (a changed sub-processor list) are tried again for the orgs a
    # round could not reach.
    org_notice_retry_s: float = 60.0
    # How often the retention sweep enforces each org's profile.
    retention_interval_s: float = 3600.0
    # Delivery webhooks. SendGrid signs its Event Webhook with ECDSA P-256: its public key,
    # base64 DER as SendGrid's settings page shows it. Twilio signs with the auth token, over
    # the public URL it called: PUBLIC_BASE_URL (scheme and host, as Twilio sees them) + path.
    sendgrid_webhook_public_key: str = ""
    sendgrid_webhook_tolerance_s: int = 300
    twilio_auth_token: SecretStr = SecretStr("")
    public_base_url: str = "http://127.0.0.1:8083"
    webhook_max_body_bytes: int = 1024 * 1024
    # Keys the suppression list's (and the message log's) hashes of addresses.
    suppression_key: SecretStr = SecretStr("")
    # Signs unsubscribe links (RFC 8058); the links point at PUBLIC_BASE_URL/unsubscribe/...
    unsubscribe_key: SecretStr = SecretStr("")
    # Links in messages: {invoice_id} for the invoice's pay page, {org_id} for the page where a
    # member gives consent again after a material policy change.
    pay_url_template: str = "https://betal.kontingent.no/{invoice_id}"
    reconsent_url_template: str = "https://min.kontingent.no/{org_id}/samtykke"

    @property
    def sandbox_path(self) -> Path:
        return self.sandbox_dir or self.data_dir / "sandbox"
