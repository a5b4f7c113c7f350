"""What the dispatcher needs of an email provider, an SMS provider and membership."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.notify.domain.delivery import OutgoingEmail, OutgoingSms


class EmailProvider(Protocol):
    name: str

    async def send(self, email: OutgoingEmail) -> str: ...

    async def lookup(self, message_id: str) -> str | None: ...


class SmsProvider(Protocol):
    name: str

    async def send(self, sms: OutgoingSms) -> str: ...

    async def lookup(self, sms: OutgoingSms, since: datetime) -> str | None: ...


class ContactEmails(Protocol):
    """A member's email address now (from membership), for an SMS's email fallback."""

    async def email_of(self, org_id: str, member_id: str) -> str | None: ...
