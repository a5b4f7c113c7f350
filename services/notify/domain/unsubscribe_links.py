"""Unsubscribe links (RFC 8058 one-click and the visible link in every marketing message).

The token is signed (itsdangerous, HMAC under UNSUBSCRIBE_KEY) and names the org, member,
purpose, channel and message it was made for: whoever holds the link may withdraw that one
consent and nothing else. It does not expire: an unsubscribe link must keep working as long
as the message is in someone's inbox. A token that does not verify is refused whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

from services.notify.domain.messages import PURPOSE

SALT = "kontingent.notify.unsubscribe.v1"
CHANNELS = ("email", "sms")


@dataclass(frozen=True)
class Unsubscribe:
    org_id: str
    member_id: str
    purpose: str
    channel: str
    message_id: str


class UnsubscribeLinks:
    def __init__(self, key: str, base_url: str) -> None:
        if not key:
            raise ValueError("UNSUBSCRIBE_KEY is empty")
        self._serializer = URLSafeSerializer(key, salt=SALT)
        self.base_url = base_url.rstrip("/")

    def token(self, request: Unsubscribe) -> str:
        return str(
            self._serializer.dumps(
                [
                    request.org_id,
                    request.member_id,
                    request.purpose,
                    request.channel,
                    request.message_id,
                ]
            )
        )

    def read(self, token: str) -> Unsubscribe | None:
        """What the token asks for; None when it is forged, tampered with or malformed."""
        try:
            fields = self._serializer.loads(token)
        except BadData:
            return None
        if (
            not isinstance(fields, list)
            or len(fields) != 5
            or not all(isinstance(f, str) and f for f in fields)
        ):
            return None
        request = Unsubscribe(*fields)
        if not PURPOSE.match(request.purpose) or request.channel not in CHANNELS:
            return None
        return request

    def unsubscribe_url(
        self, org_id: str, member_id: str, purpose: str, message_id: str, channel: str = "email"
    ) -> str:
        """The link for List-Unsubscribe and the visible footer; POST to it is one-click."""
        token = self.token(Unsubscribe(org_id, member_id, purpose, channel, message_id))
        return f"{self.base_url}/unsubscribe/{token}"
