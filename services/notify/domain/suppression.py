"""The suppression list names addresses by a keyed hash, never in clear: an opt-out (SMS
STOP, a hard bounce, a spam report) must outlive the member's erasure, and a hash under a key
only notify holds cannot be reversed by whoever reads the table. Addresses are normalised
first, so that the same address always hashes the same."""

from __future__ import annotations

import hashlib
import hmac

EMAIL = "email"
SMS = "sms"
CHANNELS = (EMAIL, SMS)
# Why an address is suppressed.
SMS_STOP = "sms-stop"
BOUNCE = "bounce"
SPAM_REPORT = "spam-report"
UNSUBSCRIBE = "unsubscribe"


def normalised(channel: str, address: str) -> str:
    if channel == EMAIL:
        return address.strip().lower()
    if channel == SMS:
        return "".join(c for c in address if c.isdigit() or c == "+")  # E.164 already
    raise ValueError(f"unknown channel {channel!r}")


def address_hash(key: bytes, channel: str, address: str) -> str:
    message = f"{channel}\x1f{normalised(channel, address)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
