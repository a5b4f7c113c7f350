"""The login log's rules: which sessions are recorded, what of them, and how many are kept."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from services.common.errors import InvalidArgument

KINDS = ("login", "logout", "aborted")
KEEP_LAST = 10
MAX_TEXT = 100


@dataclass(frozen=True)
class LoginDetails:
    device: str
    ip: str
    country: str
    city: str


def validate_login(kind: str, device: str, ip: str, country: str, city: str) -> LoginDetails:
    errors: dict[str, str] = {}
    if kind not in KINDS:
        errors["kind"] = f"one of {', '.join(KINDS)}"
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip.strip()))
        except ValueError:
            errors["ip"] = "not an IPv4 or IPv6 address"
    for name, value in (("device", device), ("country", country), ("city", city)):
        if len(value) > MAX_TEXT:
            errors[name] = f"at most {MAX_TEXT} characters"
    if errors:
        raise InvalidArgument(errors)
    return LoginDetails(device.strip(), ip, country.strip(), city.strip())
