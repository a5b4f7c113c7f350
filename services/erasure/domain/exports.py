"""Access and portability exports: every store's export merged into one document under a
published JSON Schema (schemas/member-export.v1.json), the archive's password, and the README
that explains the sections to the member."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from services.common.timestamps import iso

SCHEMA_ID = "https://kontingent.no/schemas/member-export/v1"
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "member-export.v1.json"
DOCUMENT_NAME = "member-export.json"
README_NAME = "README.txt"
# The sealed field the password is kept in until the archive is made.
PASSWORD_FIELD = "export-password"
# Read out over the phone or typed from a note: no 0/O, 1/l/I look-alikes. 5 groups of 5
# from 32 symbols is 125 bits, beyond guessing even offline against the ZIP.
PASSWORD_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyz"
PASSWORD_GROUPS = 5
PASSWORD_GROUP_LENGTH = 5


def new_password() -> str:
    return "-".join(
        "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_GROUP_LENGTH))
        for _ in range(PASSWORD_GROUPS)
    )


def merge(
    *,
    request_id: str,
    request_type: str,
    org_id: str,
    member_id: str,
    generated_at: datetime,
    stores: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """One document: who and when at the top, each store's own export under its name."""
    return {
        "schema": SCHEMA_ID,
        "request_id": request_id,
        "request_type": request_type,
        "org_id": org_id,
        "member_id": member_id,
        "generated_at": iso(generated_at),
        "stores": {name: dict(stores[name]) for name in sorted(stores)},
    }


README = """Dine personopplysninger / Your personal data
=============================================

member-export.json holder alt vi lagrer om deg, i ett JSON-dokument (skjema: {schema}).
member-export.json holds everything we keep about you, as one JSON document ({schema}).

  stores.membership  medlemskapet ditt: kontaktopplysninger, skjemasvar, samtykker med
                     historikk, de siste innloggingene og revisjonsloggen om deg
                     your membership: contact details, form answers, consents and their
                     history, your last logins and the audit log about you
  stores.billing     fakturaer, kreditnotaer og betalinger (beløp i øre)
                     invoices, credit notes and payments (amounts in øre)
  stores.notify      meldingene vi har sendt deg på e-post og SMS, med leveringsstatus
                     the emails and text messages we sent you, with their delivery status
  stores.erasure     nøkkelen som krypterer opplysningene dine (bare når den ble laget)
                     the key your data is encrypted with (only when it was made)

Laget / generated: {generated_at}
"""


def readme(document: Mapping[str, Any]) -> str:
    return README.format(schema=document["schema"], generated_at=document["generated_at"])
