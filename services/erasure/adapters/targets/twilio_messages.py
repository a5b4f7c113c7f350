"""Twilio: deletes each message notify's receipt lists, by SID (DELETE .../Messages/{Sid}),
through the official SDK. A message Twilio no longer has (404) counts as deleted, so a retry
after a partial run is harmless. Twilio refuses to delete a message still being delivered:
that attempt fails and is retried later, until Twilio confirms."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from services.erasure.domain.certificate import DELETED, NOTHING_HELD
from services.erasure.domain.outcomes import TargetFailure, TargetResult
from services.erasure.service_layer.targets import TargetJob

NOTIFY = "notify"
PROVIDER = "twilio"


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str  # empty: not configured (the local sandbox)
    auth_token: str
    base_url: str = "https://api.twilio.com"
    timeout_s: float = 10.0


class TwilioMessagesTarget:
    def __init__(self, config: TwilioConfig) -> None:
        self.config = config
        self._http: AsyncTwilioHttpClient | None = None

    async def erase(self, job: TargetJob) -> TargetResult:
        sids = job.earlier[NOTIFY].provider_records.get(PROVIDER, [])
        if not sids:
            return TargetResult(
                note="notify sent this member nothing through Twilio", action=NOTHING_HELD
            )
        if not self.config.account_sid:
            raise TargetFailure("twilio-not-configured")
        messages = self._client().api.v2010.accounts(self.config.account_sid).messages
        gone = 0
        for sid in sids:
            try:
                await messages(sid).delete_async()
            except TwilioRestException as exc:
                if exc.status != 404:
                    raise TargetFailure(f"twilio-{exc.code or exc.status}") from None
                gone += 1
            except OSError:
                raise TargetFailure("twilio-unreachable") from None
        return TargetResult(
            removed=[
                {
                    "category": "sms-messages",
                    "description": "the member's text messages at Twilio (body, number)",
                    "count": len(sids),
                }
            ],
            note=f"{gone} already gone at Twilio" if gone else "",
            action=DELETED,
        )

    def _client(self) -> Client:
        if self._http is None:  # made in the running loop, on first need
            self._http = AsyncTwilioHttpClient(timeout=self.config.timeout_s)
        client = Client(self.config.account_sid, self.config.auth_token, http_client=self._http)
        client.api.base_url = self.config.base_url.rstrip("/")
        return client

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
