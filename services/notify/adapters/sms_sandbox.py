"""SMS in sandbox mode: the form Twilio's Messages API would receive, written to a file
instead of sent. One file per message id, so a retry overwrites, never duplicates."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from services.notify.domain.delivery import OutgoingSms


class SandboxSms:
    name = "sandbox"

    def __init__(self, directory: Path, from_number: str, public_base_url: str) -> None:
        self.directory = directory / "sms"
        self.from_number = from_number
        self.public_base_url = public_base_url.rstrip("/")
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, message_id: str) -> Path:
        return self.directory / f"{message_id}.json"

    async def send(self, sms: OutgoingSms) -> str:
        form = {
            "To": sms.to,
            "From": self.from_number,
            "Body": sms.body,
            "StatusCallback": f"{self.public_base_url}/twilio/status?message_id={sms.message_id}",
        }
        path = self._path(sms.message_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(form, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, path)
        return f"sandbox-{sms.message_id}"

    async def lookup(self, sms: OutgoingSms, since: datetime) -> str | None:
        return f"sandbox-{sms.message_id}" if self._path(sms.message_id).exists() else None

    async def close(self) -> None:
        """Nothing to close: each message is a file written and closed at once."""

    async def forget(self, message_id: str) -> bool:
        try:
            self._path(message_id).unlink()
            return True
        except FileNotFoundError:
            return False
