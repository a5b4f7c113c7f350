"""Twilio's signed status callbacks and inbound SMS on notify's production routes: statuses,
forged signatures, and STOP kept only as a keyed hash."""

from __future__ import annotations

import json

from sqlalchemy import text

from services.notify.adapters.orm import delivery_events, suppressions
from services.notify.domain.suppression import address_hash
from services.notify.entrypoints.webhooks import (
    TWILIO_INBOUND_PATH,
    TWILIO_STATUS_PATH,
)
from tests.integration.test_notify_webhooks_support import (
    OUR_NUMBER,
    PHONE,
    SUPPRESSION_KEY,
    Notify,
    add_message,
    message,
    notify,
    rows,
)

__all__ = ["notify"]  # a fixture


async def test_a_signed_twilio_status_updates_and_a_forged_one_is_refused(
    notify: Notify,
) -> None:
    mid = await add_message(notify.db, channel="sms", provider="twilio", recipient=PHONE)
    sid = (await message(notify.db, mid)).provider_ref
    path = f"{TWILIO_STATUS_PATH}?message_id={mid}"
    form = {"MessageSid": sid, "MessageStatus": "delivered", "To": PHONE, "From": OUR_NUMBER}
    assert (await notify.twilio(path, form, token="not-the-token"))[0] == 403
    assert (await notify.twilio(path, {**form, "MessageStatus": "failed"}, token="x"))[0] == 403
    assert (await message(notify.db, mid)).status == "sent"
    assert await rows(notify.db, delivery_events) == []

    status, _ = await notify.twilio(path, form)
    assert status == 200
    assert (await message(notify.db, mid)).status == "delivered"
    assert json.loads((await notify.twilio(path, form))[1]) == {"outcome": "duplicate"}


async def test_a_failed_sms_records_twilios_error_code(notify: Notify) -> None:
    mid = await add_message(notify.db, channel="sms", provider="twilio", recipient=PHONE)
    form = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert (await notify.twilio(f"{TWILIO_STATUS_PATH}?message_id={mid}", form))[0] == 200
    row = await message(notify.db, mid)
    assert (row.status, row.last_error) == ("undelivered", "30003")


async def test_an_inbound_stop_suppresses_the_number_as_a_hash_only(notify: Notify) -> None:
    await add_message(
        notify.db,
        channel="sms",
        provider="twilio",
        recipient=PHONE,
        message_class="marketing",
        purpose="newsletter",
    )
    await add_message(
        notify.db,
        org_id="org-b",
        member_id="member-9",
        channel="sms",
        provider="twilio",
        recipient="+47 912 34 567",
    )
    await add_message(
        notify.db, org_id="org-c", channel="sms", provider="twilio", recipient="+4700000000"
    )
    form = {"MessageSid": "SMin1", "From": PHONE, "To": OUR_NUMBER, "Body": "  Stopp \n"}
    assert (await notify.twilio(TWILIO_INBOUND_PATH, form, token="forged"))[0] == 403
    assert await rows(notify.db, suppressions) == []

    status, twiml = await notify.twilio(TWILIO_INBOUND_PATH, form)
    assert status == 200 and "<Response" in twiml
    hashed = address_hash(SUPPRESSION_KEY, "sms", PHONE)
    assert sorted(
        (r.org_id, r.channel, r.address_hash, r.reason) for r in await rows(notify.db, suppressions)
    ) == [
        ("org-a", "sms", hashed, "sms-stop"),
        ("org-b", "sms", hashed, "sms-stop"),
    ]
    assert notify.directory.withdrawn == [("org-a", "member-1", "newsletter", "sms-stop")]
    # The number is nowhere in notify's database, in any form.
    digits = PHONE.lstrip("+")
    async with notify.db.sessions() as session:
        for table in ("messages", "delivery_events", "suppressions"):
            for row in await session.execute(text(f"SELECT * FROM {table}")):
                for value in row:
                    as_text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    assert digits not in as_text and "912 34" not in as_text


async def test_an_inbound_message_that_is_not_stop_changes_nothing(notify: Notify) -> None:
    await add_message(notify.db, channel="sms", provider="twilio", recipient=PHONE)
    form = {
        "MessageSid": "SMin2",
        "From": PHONE,
        "To": OUR_NUMBER,
        "Body": "stop sending me bills?",
    }
    assert (await notify.twilio(TWILIO_INBOUND_PATH, form))[0] == 200
    assert await rows(notify.db, suppressions) == []
