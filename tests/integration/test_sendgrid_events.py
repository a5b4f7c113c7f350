"""SendGrid's signed Event Webhook on notify's production route: statuses, dedupe, forged
signatures, consent withdrawal for marketing, and membership being down."""

from __future__ import annotations

import base64
import json
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from services.notify.adapters.orm import delivery_events, suppressions
from services.notify.domain.suppression import address_hash
from services.notify.entrypoints.webhooks import SENDGRID_PATH
from tests.integration.test_notify_webhooks_support import (
    EMAIL,
    FORGER_KEY,
    SENDGRID_KEY,
    SUPPRESSION_KEY,
    Notify,
    add_message,
    message,
    notify,
    rows,
    sg_event,
)

__all__ = ["notify"]  # a fixture


async def test_a_signed_sendgrid_batch_updates_each_message(notify: Notify) -> None:
    delivered, bounced, dropped = [await add_message(notify.db) for _ in range(3)]
    status, reply = await notify.sendgrid(
        [
            sg_event("processed", delivered),
            sg_event("delivered", delivered),
            sg_event("bounce", bounced, type="bounce", reason="550 no such user"),
            sg_event("dropped", dropped, reason="Bounced Address"),
        ]
    )
    assert (status, reply["received"]) == (200, 4)
    assert (await message(notify.db, delivered)).status == "delivered"
    assert (await message(notify.db, delivered)).delivered_at is not None
    assert (await message(notify.db, bounced)).status == "bounced"
    assert (await message(notify.db, dropped)).status == "dropped"
    # The hard bounce suppresses the address, by its keyed hash only.
    [suppressed] = await rows(notify.db, suppressions)
    assert (suppressed.org_id, suppressed.channel, suppressed.reason) == (
        "org-a",
        "email",
        "bounce",
    )
    assert suppressed.address_hash == address_hash(SUPPRESSION_KEY, "email", EMAIL)
    assert notify.directory.withdrawn == []  # nothing was marketing


async def test_a_soft_bounce_suppresses_nothing_and_a_late_delivered_undoes_nothing(
    notify: Notify,
) -> None:
    mid = await add_message(notify.db)
    await notify.sendgrid([sg_event("bounce", mid, type="blocked")])
    assert await rows(notify.db, suppressions) == []
    await notify.sendgrid([sg_event("delivered", mid)])
    assert (await message(notify.db, mid)).status == "bounced"


async def test_the_same_event_twice_changes_nothing(notify: Notify) -> None:
    mid = await add_message(notify.db, message_class="marketing", purpose="newsletter")
    batch = [sg_event("delivered", mid), sg_event("spamreport", mid)]
    assert (await notify.sendgrid(batch))[0] == 200
    first = await message(notify.db, mid)
    status, reply = await notify.sendgrid(batch)
    assert (status, reply.get("duplicate")) == (200, 2)
    assert await message(notify.db, mid) == first
    assert len(await rows(notify.db, delivery_events)) == 2
    assert notify.directory.withdrawn == [("org-a", "member-1", "newsletter", "spam-report")]


async def test_a_forged_or_expired_signature_gets_403_and_changes_nothing(
    notify: Notify,
) -> None:
    mid = await add_message(notify.db)
    batch = [sg_event("bounce", mid, type="bounce")]
    assert (await notify.sendgrid(batch, key=FORGER_KEY)) == (403, {"error": "signature_mismatch"})
    assert (await notify.sendgrid(batch, timestamp=int(time.time()) - 3600)) == (
        403,
        {"error": "timestamp_expired"},
    )
    unsigned = await notify.client.post(SENDGRID_PATH, data=json.dumps(batch))
    assert unsigned.status == 403
    # Signed, then altered on the way.
    body = json.dumps(batch).encode()
    stamp = str(int(time.time()))
    signature = SENDGRID_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    tampered = await notify.client.post(
        SENDGRID_PATH,
        data=body.replace(b"bounce", b"delivered", 1),
        headers={
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        },
    )
    assert tampered.status == 403
    assert (await message(notify.db, mid)).status == "sent"
    assert await rows(notify.db, delivery_events) == []
    assert await rows(notify.db, suppressions) == []


async def test_malformed_json_gets_400(notify: Notify) -> None:
    assert (await notify.sendgrid(b"[{not json"))[0] == 400
    assert (await notify.sendgrid([{"event": "delivered"}])) == (400, {"error": "not_events"})


async def test_signed_json_nested_too_deep_gets_400(notify: Notify) -> None:
    """Found by the fuzzer: deep nesting made json.loads raise RecursionError, a 500."""
    assert await notify.sendgrid(b"[" * 5000) == (400, {"error": "malformed_json"})


async def test_a_spam_report_or_unsubscribe_on_marketing_withdraws_the_consent(
    notify: Notify,
) -> None:
    marketing = await add_message(notify.db, message_class="marketing", purpose="newsletter")
    receipt = await add_message(notify.db, message_class="transactional", purpose="billing")
    await notify.sendgrid(
        [
            sg_event("spamreport", marketing),
            sg_event("unsubscribe", marketing),
            sg_event("spamreport", receipt),
            sg_event("unsubscribe", receipt),
        ]
    )
    assert notify.directory.withdrawn == [
        ("org-a", "member-1", "newsletter", "spam-report"),
        ("org-a", "member-1", "newsletter", "unsubscribe"),
    ]
    assert (await message(notify.db, marketing)).status == "spam-reported"
    assert (await message(notify.db, receipt)).status == "spam-reported"


async def test_membership_down_answers_503_and_the_retry_applies(notify: Notify) -> None:
    mid = await add_message(notify.db, message_class="marketing", purpose="newsletter")
    batch = [sg_event("spamreport", mid)]
    notify.directory.down = True
    assert (await notify.sendgrid(batch))[0] == 503
    assert (await message(notify.db, mid)).status == "sent"
    assert await rows(notify.db, delivery_events) == []
    notify.directory.down = False
    assert (await notify.sendgrid(batch))[0] == 200
    assert (await message(notify.db, mid)).status == "spam-reported"
    assert len(notify.directory.withdrawn) == 1
