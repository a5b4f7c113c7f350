"""What the dispatcher needs of an email provider, an SMS provider and membership."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.notify.domain.delivery import OutgoingEmail, OutgoingSms


class EmailProvider(Protocol):
    name: str

    async def send(self, email: OutgoingEmail) -> str: ...

    async def lookup(self, message_id: str) -> str | None: ...

    async def close(self) -> None:
        """Releases the client (sessions, threads) once nothing is sent any more."""


class SmsProvider(Protocol):
    name: str

    async def send(self, sms: OutgoingSms) -> str: ...

    async def lookup(self, sms: OutgoingSms, since: datetime) -> str | None: ...

    async def close(self) -> None:
        """Releases the client (sessions, threads) once nothing is sent any more."""


@dataclass(frozen=True)
class EmailContact:
    """A member as membership knows them now: where to write, how to greet them, which org
    writes, and in which language."""

    email: str
    name: str
    org_name: str
    language: str


class EmailContacts(Protocol):
    """A member's email contact now (from membership), for an SMS's email fallback: None when
    the member is gone or has no email address."""

    async def email_contact(self, org_id: str, member_id: str) -> EmailContact | None: ...
