"""Email in sandbox mode: the exact SendGrid v3 mail/send body, built by the official SDK,
written to a file instead of sent. One file per message id, so a retry overwrites, never
duplicates."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sendgrid.helpers.mail import CustomArg, Mail

from services.notify.domain.delivery import OutgoingEmail
from services.notify.domain.messages import RenderedEmail


class SandboxEmailSender:
    def __init__(self, directory: Path, from_email: str) -> None:
        self.directory = directory / "email"
        self.from_email = from_email
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, message_id: str) -> Path:
        return self.directory / f"{message_id}.json"

    async def send(self, message_id: str, to: str, email: RenderedEmail) -> str:
        mail = Mail(
            from_email=self.from_email,
            to_emails=to,
            subject=email.subject,
            plain_text_content=email.text,
            html_content=email.html,
        )
        mail.custom_arg = CustomArg("message_id", message_id)
        path = str(self._path(message_id))
        tmp = path[: -len(".json")] + ".tmp"
        body = json.dumps(mail.get(), ensure_ascii=False, indent=2).encode()
        # Plain system calls: a file per message is the cost here, not text I/O layers.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return f"sandbox-{message_id}"

    async def forget(self, message_id: str) -> bool:
        """Erasure of the provider-side copy; True when there was one."""
        try:
            self._path(message_id).unlink()
            return True
        except FileNotFoundError:
            return False


class SandboxEmail:
    """The sandbox behind the dispatcher's email provider interface."""

    name = "sandbox"

    def __init__(self, sender: SandboxEmailSender) -> None:
        self.sender = sender

    async def send(self, email: OutgoingEmail) -> str:
        rendered = RenderedEmail(subject=email.subject, text=email.text, html=email.html or "")
        return await self.sender.send(email.message_id, email.to, rendered)

    async def lookup(self, message_id: str) -> str | None:
        return f"sandbox-{message_id}" if self.sender._path(message_id).exists() else None

    async def close(self) -> None:
        """Nothing to close: each message is a file written and closed at once."""
