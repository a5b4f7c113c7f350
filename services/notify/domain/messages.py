"""Message identity and purpose. One message per (event, template, channel), so a redelivered
event finds the message it already produced instead of sending a second one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

MESSAGE_NAMESPACE = uuid.UUID("6f1c1d0e-3b7a-4e53-9a55-8d7b0c3f2a10")

TRANSACTIONAL = "transactional"
SERVICE = "service"
MARKETING = "marketing"


def message_id(event_id: str, template: str, channel: str) -> str:
    return str(uuid.uuid5(MESSAGE_NAMESPACE, f"{event_id}/{template}/{channel}"))


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
