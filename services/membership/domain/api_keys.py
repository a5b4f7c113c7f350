"""Org API keys: `kt_<key id>_<secret>`. Only a hash of the secret is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from services.common.errors import InvalidArgument

PREFIX = "kt"


@dataclass(frozen=True)
class MintedKey:
    key_id: str
    secret_hash: str
    plaintext: str  # shown to the org once, never stored


def hash_secret(secret: str) -> str:
    # Secrets are 256 random bits, so a plain hash is enough; no slow KDF needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def mint() -> MintedKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return MintedKey(key_id, hash_secret(secret), f"{PREFIX}_{key_id}_{secret}")


def parse(api_key: str) -> tuple[str, str] | None:
    """Returns (key id, secret), or None when the string is not shaped like our keys."""
    prefix, _, rest = api_key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret:
        return None
    return key_id, secret


def matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


MAX_LABEL = 100


def validate_scopes(requested: list[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The scopes a new key gets: at least one, each one we know, in a stable order."""
    unknown = sorted(set(requested) - set(allowed))
    if not requested:
        raise InvalidArgument({"scopes": f"at least one of {', '.join(allowed)}"})
    if unknown:
        raise InvalidArgument(
            {"scopes": f"unknown scope(s) {', '.join(unknown)}; one of {', '.join(allowed)}"}
        )
    return tuple(scope for scope in allowed if scope in requested)


def validate_label(label: str) -> str:
    label = label.strip()
    if len(label) > MAX_LABEL:
        raise InvalidArgument({"label": f"at most {MAX_LABEL} characters"})
    return label
