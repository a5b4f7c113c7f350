"""Email in sandbox mode: the exact SendGrid v3 mail/send body, built by the official SDK,
written to a file instead of sent. One file per message id, so a retry overwrites, never
duplicates."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sendgrid.helpers.mail import CustomArg, Mail

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
        path = self._path(message_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(mail.get(), ensure_ascii=False, indent=2))
        os.replace(tmp, path)
        return f"sandbox-{message_id}"

    async def forget(self, message_id: str) -> bool:
        """Erasure of the provider-side copy; True when there was one."""
        try:
            self._path(message_id).unlink()
            return True
        except FileNotFoundError:
            return False
