"""The signed links to a member's privacy page, the page's form tokens, and how often a link
may be asked for. No I/O.

A link's token is signed (itsdangerous, HMAC under PRIVACY_LINK_KEY) and timestamped, and
names the org and the member: having it is the email verification, since only the member's
inbox received it. It expires after PRIVACY_LINK_TTL_S. A forged, tampered or malformed token
names nothing; an expired one is told apart only because its signature is ours.

Each page carries a form token for its POSTs (CSRF): an HMAC of the link's token under a key
derived from the same secret, so a form posted from elsewhere, or with another link's token,
is refused without any state on the server.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

SALT = "kontingent.membership.privacy-link.v1"
PAGE_ROUTE = "/privacy/p/{token}"
FORM_ROUTE = "/privacy/{org_id}"
_FORM_TOKEN_CONTEXT = b"kontingent.membership.privacy-page.form-token.v1"


@dataclass(frozen=True)
class LinkCheck:
    org_id: str = ""  # empty: forged, tampered with or malformed
    member_id: str = ""
    expired: bool = False

    @property
    def valid(self) -> bool:
        return bool(self.org_id) and not self.expired


@dataclass(frozen=True)
class SignedLink:
    url: str
    token: str
    expires_at: datetime


class PrivacyLinks:
    def __init__(self, key: str, base_url: str, ttl_s: int) -> None:
        if not key:
            raise ValueError("PRIVACY_LINK_KEY is empty")
        self._serializer = URLSafeTimedSerializer(key, salt=SALT)
        self._form_key = hmac.new(key.encode(), _FORM_TOKEN_CONTEXT, hashlib.sha256).digest()
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s

    def sign(self, org_id: str, member_id: str, now: datetime | None = None) -> SignedLink:
        token = str(self._serializer.dumps([org_id, member_id]))
        expires_at = (now or datetime.now(UTC)) + timedelta(seconds=self.ttl_s)
        return SignedLink(self.base_url + PAGE_ROUTE.format(token=token), token, expires_at)

    def check(self, token: str) -> LinkCheck:
        try:
            payload = self._serializer.loads(token, max_age=self.ttl_s)
        except SignatureExpired as exc:
            # Only a token we signed gets this far: its payload is ours to read.
            expired = self._serializer.load_payload(exc.payload) if exc.payload else None
            return _named(expired, expired=True)
        except BadData:
            return LinkCheck()
        return _named(payload)

    def form_token(self, token: str) -> str:
        return hmac.new(self._form_key, token.encode(), hashlib.sha256).hexdigest()

    def form_token_matches(self, token: str, given: str) -> bool:
        return hmac.compare_digest(self.form_token(token), given)


def _named(payload: object, expired: bool = False) -> LinkCheck:
    if (
        isinstance(payload, list)
        and len(payload) == 2
        and all(isinstance(part, str) and part for part in payload)
    ):
        return LinkCheck(payload[0], payload[1], expired)
    return LinkCheck()


def resend_cutoff(now: datetime, interval_s: float) -> datetime:
    """A member is sent one link per interval: the form cannot flood someone's inbox. A new
    one goes out only if the last was sent at or before this moment."""
    return now - timedelta(seconds=interval_s)
