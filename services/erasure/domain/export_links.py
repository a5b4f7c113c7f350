"""The one-time download links of export archives.

The token is signed (itsdangerous, HMAC under EXPORT_LINK_KEY) and timestamped; it names only
the request, never the member, so it is not personal data: it says nothing about anyone
without this service's database. A token that does not verify names nothing (404); one that
verifies but is older than EXPORT_LINK_TTL_S is expired (410). That it works once is the
database's part (services/erasure/service_layer/exports.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

SALT = "kontingent.erasure.export-link.v1"
ROUTE = "/exports/{token}"


@dataclass(frozen=True)
class LinkCheck:
    request_id: str | None  # None: forged, tampered with or malformed
    expired: bool = False


class ExportLinks:
    def __init__(self, key: str, base_url: str, ttl_s: int) -> None:
        if not key:
            raise ValueError("EXPORT_LINK_KEY is empty")
        self._serializer = URLSafeTimedSerializer(key, salt=SALT)
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s

    def url(self, request_id: str) -> str:
        token = str(self._serializer.dumps(request_id))
        return self.base_url + ROUTE.format(token=token)

    def check(self, token: str) -> LinkCheck:
        try:
            request_id = self._serializer.loads(token, max_age=self.ttl_s)
        except SignatureExpired as exc:
            # Only a token we signed gets this far: its payload is ours to read.
            payload = self._serializer.load_payload(exc.payload) if exc.payload else None
            return LinkCheck(payload if isinstance(payload, str) else None, expired=True)
        except BadData:
            return LinkCheck(None)
        return LinkCheck(request_id if isinstance(request_id, str) and request_id else None)
