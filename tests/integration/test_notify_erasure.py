"""Notify's erasure after delivery events: the log goes, the suppression hash stays, and the
receipt lists the providers' message ids; the sandbox's copies of every channel go."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.sealing import SubjectForgotten
from services.notify.adapters.email_sandbox import SandboxEmailSender
from services.notify.adapters.orm import messages, suppressions
from services.notify.adapters.sms_sandbox import SandboxSms
from services.notify.domain.delivery import OutgoingSms
from services.notify.domain.messages import RenderedEmail
from services.notify.domain.suppression import address_hash
from services.notify.entrypoints.webhooks import TWILIO_INBOUND_PATH
from services.notify.service_layer.subject_store import MessageSubjectStore
from tests.integration.test_notify_webhooks_support import (
    EMAIL,
    OUR_NUMBER,
    PHONE,
    PUBLIC_BASE_URL,
    SEALING_KEY,
    SUPPRESSION_KEY,
    Notify,
    add_message,
    notify,
    rows,
    sg_event,
)
from tests.loopback.keys import LocalKeys

__all__ = ["notify"]  # a fixture


async def test_erasure_deletes_the_log_keeps_the_hash_and_lists_provider_ids(
    notify: Notify,
) -> None:
    email = await add_message(notify.db, provider_ref="sg-1.filter")
    old_sms = await add_message(  # from before the log kept the hash
        notify.db,
        channel="sms",
        provider="twilio",
        recipient=PHONE,
        provider_ref="SMold",
        with_hash=False,
    )
    other = await add_message(notify.db, member_id="member-2")
    await notify.sendgrid([sg_event("bounce", email, type="bounce")])
    await notify.twilio(TWILIO_INBOUND_PATH, {"From": PHONE, "To": OUR_NUMBER, "Body": "STOP"})
    del old_sms
    sealer = LocalKeys()  # the real Sealer, with the members' keys held here
    for member_id in ("member-1", "member-2"):
        sealer.remember(member_id, SEALING_KEY)
    store = MessageSubjectStore(notify.db, sealer, {}, SUPPRESSION_KEY)  # type: ignore[arg-type]

    exported = await store.export("org-a", "member-1")
    assert {m["delivery"]["status"] for m in exported["messages"]} == {"bounced", "sent"}

    outcome = await store.erase("org-a", "member-1")
    assert outcome.provider_records == {"sendgrid": ["sg-1.filter"], "twilio": ["SMold"]}
    assert [(r.category, r.count) for r in outcome.removed] == [
        ("message-log", 2),
        ("delivery-events", 1),
    ]
    [kept] = outcome.kept
    assert (kept.category, kept.count, kept.pseudonymised) == ("suppression-list", 1, True)
    with pytest.raises(SubjectForgotten):  # erasure dropped the member's cached key
        await sealer.key_for("member-1")
    assert [r.id for r in await rows(notify.db, messages)] == [other]
    [suppressed] = await rows(notify.db, suppressions)  # the bounce; STOP found no hash
    assert suppressed.address_hash == address_hash(SUPPRESSION_KEY, "email", EMAIL)


async def test_erasure_deletes_the_sandbox_copies_of_email_and_sms(
    notify: Notify, tmp_path: Path
) -> None:
    email = SandboxEmailSender(tmp_path, "noreply@example.org")
    sms = SandboxSms(tmp_path, OUR_NUMBER, PUBLIC_BASE_URL)
    mail_id = await add_message(notify.db, provider="sandbox")
    sms_id = await add_message(notify.db, channel="sms", provider="sandbox", recipient=PHONE)
    other_id = await add_message(notify.db, member_id="member-2", channel="sms", provider="sandbox")
    await email.send(mail_id, EMAIL, RenderedEmail(subject="Hei", text="Velkommen", html=""))
    await sms.send(OutgoingSms(sms_id, "org-a", "member-1", PHONE, "Kvittering"))
    await sms.send(OutgoingSms(other_id, "org-a", "member-2", PHONE, "Kvittering"))
    sealer = LocalKeys()
    sealer.remember("member-1", SEALING_KEY)
    copies = {"email": email, "sms": sms}
    store = MessageSubjectStore(notify.db, sealer, copies, SUPPRESSION_KEY)  # type: ignore[arg-type]

    outcome = await store.erase("org-a", "member-1")

    assert ("provider-copies", 2) in [(r.category, r.count) for r in outcome.removed]
    left = sorted(p.name for p in tmp_path.rglob("*.json"))
    assert left == [f"{other_id}.json"], "only the other member's SMS stays"


async def test_a_repeated_erase_still_names_the_provider_ids(notify: Notify) -> None:
    """The first reply may be lost: the retry must still tell the erasure service what to
    delete at SendGrid and Twilio, though the messages are gone by then."""
    await add_message(notify.db, provider_ref="sg-2.filter")
    await add_message(
        notify.db, channel="sms", provider="twilio", recipient=PHONE, provider_ref="SM2"
    )
    await add_message(notify.db, member_id="member-2", provider_ref="sg-other.filter")
    sealer = LocalKeys()
    store = MessageSubjectStore(notify.db, sealer, {}, SUPPRESSION_KEY)  # type: ignore[arg-type]

    first = await store.erase("org-a", "member-1")
    again = await store.erase("org-a", "member-1")

    expected = {"sendgrid": ["sg-2.filter"], "twilio": ["SM2"]}
    assert first.provider_records == expected
    assert again.provider_records == expected
    # Nothing was left the second time: the first erasure's receipt, marked as a repeat.
    assert again.repeat and not first.repeat
    assert again.removed == first.removed
