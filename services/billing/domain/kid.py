"""KID (kundeidentifikasjon), the customer reference a Norwegian payer types into the bank.

Two check-digit schemes are in use: MOD10 (Luhn, the default) and MOD11 (weights 2-7 from the
right; a remainder that would give check digit 10 is written '-'). The body is the invoice
number with leading zeros, which are part of the KID.
"""

from __future__ import annotations

from stdnum import luhn

from services.common.errors import InvalidArgument

MOD10 = "mod10"
MOD11 = "mod11"
SCHEMES = (MOD10, MOD11)
BODY_DIGITS = 9
MIN_LENGTH, MAX_LENGTH = 2, 25  # what the banks accept


def mod11_check_digit(body: str) -> str:
    weights = [2, 3, 4, 5, 6, 7]
    total = sum(int(d) * weights[i % 6] for i, d in enumerate(reversed(body)))
    check = 11 - total % 11
    return {11: "0", 10: "-"}.get(check, str(check))


def check_digit(body: str, scheme: str) -> str:
    if scheme == MOD10:
        return luhn.calc_check_digit(body)
    if scheme == MOD11:
        return mod11_check_digit(body)
    raise ValueError(f"unknown KID scheme {scheme!r}")


def make_kid(invoice_number: int, scheme: str = MOD10) -> str:
    body = str(invoice_number).zfill(BODY_DIGITS)
    return body + check_digit(body, scheme)


def kid_problem(kid: str, scheme: str) -> str | None:
    """Why a KID typed in is not valid under the scheme; None when it is."""
    if not MIN_LENGTH <= len(kid) <= MAX_LENGTH:
        return f"{MIN_LENGTH} to {MAX_LENGTH} characters"
    body, check = kid[:-1], kid[-1]
    if not body.isdigit() or not (check.isdigit() or (scheme == MOD11 and check == "-")):
        return "digits only (a MOD11 KID may end in '-')"
    if check_digit(body, scheme) != check:
        return f"wrong {scheme.upper()} check digit"
    return None


def validate_kid(kid: str, scheme: str, field: str = "kid") -> str:
    """A KID typed in by a payer or an admin. An org that changed its scheme still has open
    invoices under the old one, so a KID valid under either scheme passes; the error names
    the problem under the org's current scheme."""
    kid = kid.strip()
    problem = kid_problem(kid, scheme)
    if problem and all(kid_problem(kid, other) for other in SCHEMES if other != scheme):
        raise InvalidArgument({field: problem})
    return kid
