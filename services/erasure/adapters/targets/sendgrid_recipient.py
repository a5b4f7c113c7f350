"""SendGrid: its Recipients' Data Erasure API (POST /v3/recipients/erasejob, 202 with a job
id) deletes everything it holds of an address: names, addresses, subject lines, categories, IP
addresses. It works by address, not by message id, so the address captured (sealed) when the
request was verified is used; notify's receipt says whether SendGrid ever had the member's
mail. Called through the official SDK's generic client (the SDK has no helper for it)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from services.erasure.domain.certificate import DELETED, NOTHING_HELD
from services.erasure.domain.outcomes import TargetFailure, TargetResult
from services.erasure.service_layer.targets import TargetJob

NOTIFY = "notify"
PROVIDER = "sendgrid"


@dataclass(frozen=True)
class SendGridConfig:
    api_key: str  # empty: not configured (the local sandbox)
    base_url: str = "https://api.sendgrid.com"
    timeout_s: float = 10.0


class SendGridRecipientTarget:
    def __init__(self, config: SendGridConfig) -> None:
        self.config = config

    async def erase(self, job: TargetJob) -> TargetResult:
        messages = job.earlier[NOTIFY].provider_records.get(PROVIDER, [])
        if not messages:
            return TargetResult(
                note="notify sent this member nothing through SendGrid", action=NOTHING_HELD
            )
        if not self.config.api_key:
            raise TargetFailure("sendgrid-not-configured")
        email = await job.email()
        if email is None:
            raise TargetFailure("address-unknown")
        job_id = await asyncio.to_thread(self._erase_job, email)
        return TargetResult(
            removed=[
                {
                    "category": "email-activity",
                    "description": "the recipient's data at SendGrid (messages, addresses, "
                    "subject lines, IP addresses)",
                    "count": len(messages),
                }
            ],
            note=f"SendGrid erase job {job_id} accepted",
            action=DELETED,
        )

    def _erase_job(self, email: str) -> str:
        client = SendGridAPIClient(self.config.api_key, host=self.config.base_url.rstrip("/"))
        client.client.timeout = self.config.timeout_s
        try:
            answer = client.client.recipients.erasejob.post(
                request_body={"email_addresses": [email]}
            )
        except HTTPError as exc:
            raise TargetFailure(f"sendgrid-{exc.status_code}") from None
        except OSError:
            raise TargetFailure("sendgrid-unreachable") from None
        return str(answer.to_dict.get("job_id", ""))
