"""An org's own message to a selection of its members (SendToMembers). The org states the
purpose and the legal basis; the basis decides the class (consent -> marketing, needing the
member's consent to the purpose at this moment), and every member passes the same gate and the
same queue as the messages events cause."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

from services.common.db.engine import Database
from services.common.errors import InvalidArgument
from services.notify.adapters.membership_directory import Directory
from services.notify.adapters.templates import check_sandboxed, render_org_text
from services.notify.domain.content import CHANNELS, CLASS_OF_BASIS, COMMON, EMAIL, ORG_MESSAGE
from services.notify.domain.messages import PURPOSE, QUEUED, MessageKind
from services.notify.service_layer.queueing import Intent, MessageQueue

MAX_MEMBERS = 1000
# Members queued per transaction: each may need a consent look-up at membership.
CHUNK = 100


@dataclass
class SendResult:
    message_class: str
    queued: int = 0
    not_queued: Counter[str] = field(default_factory=Counter)


def _checked(
    member_ids: list[str],
    purpose: str,
    legal_basis: str,
    channel: str,
    subject: str,
    body: str,
    request_id: str,
) -> tuple[list[str], MessageKind, str]:
    errors: dict[str, str] = {}
    if not member_ids:
        errors["member_ids"] = "at least one"
    elif len(member_ids) > MAX_MEMBERS:
        errors["member_ids"] = f"at most {MAX_MEMBERS}"
    if not PURPOSE.match(purpose):
        errors["purpose"] = "a purpose key: [a-z][a-z0-9_]{0,49}"
    if legal_basis not in CLASS_OF_BASIS:
        errors["legal_basis"] = f"one of {', '.join(CLASS_OF_BASIS)}"
    if channel not in CHANNELS:
        errors["channel"] = f"one of {', '.join(CHANNELS)}"
    if channel == EMAIL and not subject.strip():
        errors["subject"] = "required for email"
    if not body.strip():
        errors["body"] = "required"
    send_id = request_id or str(uuid.uuid4())
    try:
        send_id = str(uuid.UUID(send_id))
    except ValueError:
        errors["request_id"] = "a UUID, or empty"
    if errors:
        raise InvalidArgument(errors)
    for name, text in (("subject", subject), ("body", body)):
        check_sandboxed(name, text, COMMON, escaped=False)
    kind = MessageKind(CLASS_OF_BASIS[legal_basis], purpose)
    return list(dict.fromkeys(member_ids)), kind, send_id


class OrgSending:
    def __init__(self, database: Database, directory: Directory, queue: MessageQueue) -> None:
        self.database = database
        self.directory = directory
        self.queue = queue

    async def send(
        self,
        org_id: str,
        member_ids: list[str],
        purpose: str,
        legal_basis: str,
        channel: str,
        subject: str,
        body: str,
        request_id: str = "",
    ) -> SendResult:
        members, kind, send_id = _checked(
            member_ids, purpose, legal_basis, channel, subject, body, request_id
        )
        result = SendResult(kind.message_class)
        for start in range(0, len(members), CHUNK):
            chunk = members[start : start + CHUNK]
            # Contact details now; another org's members are simply not among them.
            found = {c.member_id: c for c in await self.directory.contacts(org_id, chunk)}
            async with self.database.transaction() as session:
                for member_id in chunk:
                    contact = found.get(member_id)
                    own = {"name": contact.name, "org_name": contact.org_name} if contact else {}
                    values = (
                        {
                            "subject": render_org_text(subject, own),
                            "body": render_org_text(body, own),
                        }
                        if contact
                        else {}
                    )
                    outcome = await self.queue.queue(
                        session,
                        Intent(
                            org_id=org_id,
                            member_id=member_id,
                            template=ORG_MESSAGE,
                            channel=channel,
                            kind=kind,
                            legal_basis=legal_basis,
                            source_id=send_id,
                            values=values,
                            key=f"{send_id}/{member_id}",
                        ),
                        contact,
                    )
                    if outcome == QUEUED:
                        result.queued += 1
                    else:
                        result.not_queued[outcome] += 1
        return result
