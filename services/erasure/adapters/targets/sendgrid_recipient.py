"""SendGrid: its Recipients' Data Erasure API (POST /v3/recipients/erasejob, 202 with a job
id) deletes everything it holds of the addresses it is given: names, addresses, subject lines,
categories, IP addresses. It works by address and deletes later; SendGrid documents no way to
ask after the job (its API has that one operation), so the deletion is confirmed through the
Email Activity API (GET /v3/messages): done when none of the messages notify sent the member
through SendGrid is listed any more.

The addresses asked for: every one notify's messages went to, as SendGrid's own activity lists
them (an old address the member has since changed included), and the address captured (sealed)
when the request was verified. Called through the official SDK's generic client (the SDK has
no helper for either API)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from services.erasure.domain.certificate import NOTHING_HELD
from services.erasure.domain.outcomes import AwaitingConfirmation, TargetFailure, TargetResult
from services.erasure.service_layer.targets import TargetJob

NOTIFY = "notify"
PROVIDER = "sendgrid"
DELETION_REQUESTED = "deletion-requested"
DELETED_CONFIRMED = "deleted-confirmed"
ACTIVITY_LIMIT = 1000  # the Email Activity API's largest page
IDS_PER_QUERY = 50  # keeps each query's URL short


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
        listed = await asyncio.to_thread(self._listed, messages)
        progress = job.progress
        if progress is None:
            addresses = sorted({m["to_email"] for m in listed if m.get("to_email")})
            captured = await job.email()
            if captured and captured not in addresses:
                addresses.append(captured)
            if not addresses:
                return TargetResult(
                    note=f"SendGrid lists none of the {len(messages)} message(s) notify sent "
                    "and no address was captured: nothing left there to delete",
                    action=NOTHING_HELD,
                )
            job_id = await asyncio.to_thread(self._erase_job, addresses)
            progress = TargetResult(
                removed=[
                    {
                        "category": "email-activity",
                        "description": "the recipient's data at SendGrid (messages, addresses, "
                        "subject lines, IP addresses)",
                        "count": len(messages),
                    }
                ],
                note=f"SendGrid erase job {job_id} accepted for {len(addresses)} address(es)",
                action=DELETION_REQUESTED,
            )
            listed = await asyncio.to_thread(self._listed, messages)
        if listed:
            raise AwaitingConfirmation(progress)
        return replace(
            progress,
            note=f"{progress.note}; deletion confirmed: SendGrid lists none of the "
            f"{len(messages)} message(s) any more",
            action=DELETED_CONFIRMED,
        )

    def _client(self) -> Any:
        client = SendGridAPIClient(self.config.api_key, host=self.config.base_url.rstrip("/"))
        client.client.timeout = self.config.timeout_s
        return client.client

    def _listed(self, message_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The messages SendGrid's activity still lists among these (notify keeps SendGrid's
        X-Message-Id, the start of the activity's msg_id), a bounded query at a time. SendGrid
        support's "How To Filter results with Activity Feed API for X Message ID" gives the
        filter, `msg_id LIKE '<X-Message-ID>%'`; terms are joined with the query language's OR."""
        listed: list[dict[str, Any]] = []
        for start in range(0, len(message_ids), IDS_PER_QUERY):
            chunk = message_ids[start : start + IDS_PER_QUERY]
            query = " OR ".join(f'msg_id LIKE "{_quoted(m)}%"' for m in chunk)
            try:
                answer = self._client().messages.get(
                    query_params={"query": query, "limit": ACTIVITY_LIMIT}
                )
            except HTTPError as exc:
                raise TargetFailure(f"sendgrid-activity-{exc.status_code}") from None
            except OSError:
                raise TargetFailure("sendgrid-unreachable") from None
            listed.extend(answer.to_dict.get("messages", []))
        return listed

    def _erase_job(self, addresses: list[str]) -> str:
        try:
            answer = self._client().recipients.erasejob.post(
                request_body={"email_addresses": addresses}
            )
        except HTTPError as exc:
            raise TargetFailure(f"sendgrid-{exc.status_code}") from None
        except OSError:
            raise TargetFailure("sendgrid-unreachable") from None
        return str(answer.to_dict.get("job_id", ""))


def _quoted(message_id: str) -> str:
    """A message id inside the query's double quotes (ids are SendGrid's own, but a stored
    value never gets to change the query)."""
    return message_id.replace("\\", "").replace('"', "").replace("%", "")
