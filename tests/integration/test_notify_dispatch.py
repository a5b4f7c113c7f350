"""The dispatcher over the official SendGrid and Twilio SDKs, against loopback servers that
speak their wire formats: never a second message after a timeout, a 429 storm delays but
loses nothing, permanent errors are recorded and not retried, an SMS opt-out suppresses the
number and a receipt falls back to a real email (in the member's language, in the org's own
wording where it has some), a suppressed address is never sent to, and two dispatchers
racing send each message once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.common.db.engine import Database
from services.common.db.tables import outbox
from services.notify.adapters.orm import suppressions
from services.notify.adapters.suppressions import suppress
from services.notify.adapters.template_overrides import TemplateOverrides
from services.notify.domain.content import SMS_FALLBACK
from services.notify.domain.suppression import address_hash
from services.notify.service_layer.dispatch import EmailContact, fallback_id
from tests.integration.test_notify_dispatch_support import (
    ORG,
    SUPPRESSION_KEY,
    Emails,
    LocalKeys,
    drain,
    keys,
    make_dispatcher,
    notify_db,
    queue,
    row_of,
    rows,
    sendgrid,
    sendgrid_email,
    twilio,
    twilio_sms,
)
from tests.loopback.sendgrid import SendGridLoopback, SentEmail
from tests.loopback.twilio import TwilioLoopback

__all__ = ["keys", "notify_db", "sendgrid", "twilio"]  # fixtures

ORG_NAME = "Bodø Roklubb"
RECEIPT_SMS = "Bodø Roklubb: Takk for betalingen! Vi har mottatt kr 500,00 for faktura 7 & 8."


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def test_an_email_is_sent_once_with_our_id_and_recorded(
    notify_db: Database, keys: LocalKeys, sendgrid: SendGridLoopback, twilio: TwilioLoopback
) -> None:
    message_id = await queue(notify_db, keys)
    dispatcher = make_dispatcher(notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio))

    assert await dispatcher.run_once() == 1
    assert await dispatcher.run_once() == 0

    [sent] = sendgrid.sent
    assert sent.to == ["kari@example.no"] and sent.custom_args == {"message_id": message_id}
    assert "List-Unsubscribe" not in sent.headers and sent.asm is None  # not marketing
    row = await row_of(notify_db, message_id)
    assert (row.status, row.provider, row.provider_ref, row.attempts) == (
        "sent",
        "sendgrid",
        sent.msg_id,
        1,
    )
    async with notify_db.sessions() as session:
        events = (await session.execute(select(outbox.c.topic, outbox.c.key))).all()
    assert [e.topic for e in events] == ["notify.message-recorded.v1"]


async def test_a_timeout_after_the_provider_accepted_does_not_send_twice(
    notify_db: Database, keys: LocalKeys, sendgrid: SendGridLoopback, twilio: TwilioLoopback
) -> None:
    email_id = await queue(notify_db, keys)
    sms_id = await queue(notify_db, keys, channel="sms", to="+4791234567", body="Kvittering")
    sendgrid.faults.slow, twilio.faults.slow = 1, 1  # accepted, answered after the timeout
    dispatcher = make_dispatcher(notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio))

    await dispatcher.run_once()
    assert {(await row_of(notify_db, i)).status for i in (email_id, sms_id)} == {"unknown"}
    await drain(dispatcher, notify_db)

    assert len(sendgrid.sent) == 1 and sendgrid.calls == 1 and sendgrid.lookups == 1
    assert len(twilio.sent) == 1 and twilio.calls == 1 and twilio.lookups == 1
    email, sms = await row_of(notify_db, email_id), await row_of(notify_db, sms_id)
    assert (email.status, email.provider_ref, email.attempts) == (
        "sent",
        sendgrid.sent[0].msg_id,
        2,
    )
    assert (sms.status, sms.provider_ref, sms.attempts) == ("sent", twilio.sent[0].sid, 2)
    assert twilio.sent[0].status_callback == (
        f"https://notify.example/twilio/status?message_id={sms_id}"
    )


async def test_a_timeout_before_anything_went_out_is_sent_after_the_lookup(
    notify_db: Database, keys: LocalKeys, sendgrid: SendGridLoopback, twilio: TwilioLoopback
) -> None:
    message_id = await queue(notify_db, keys)
    dispatcher = make_dispatcher(notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio))
    sendgrid.faults.slow = 1
    await dispatcher.run_once()
    sendgrid.sent.clear()  # as if the provider had dropped it: the lookup finds nothing

    await drain(dispatcher, notify_db)

    assert len(sendgrid.sent_for(message_id)) == 1 and sendgrid.lookups == 1
    assert (await row_of(notify_db, message_id)).status == "sent"


async def test_a_429_storm_delays_but_loses_nothing(
    notify_db: Database, keys: LocalKeys, sendgrid: SendGridLoopback, twilio: TwilioLoopback
) -> None:
    ids = [await queue(notify_db, keys, to=f"member{i}@example.no") for i in range(20)]
    sendgrid.faults.throttle, sendgrid.faults.retry_after_s = 12, 1.0
    dispatcher = make_dispatcher(notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio))

    await dispatcher.run_once()
    throttled = [r for r in await rows(notify_db) if r.status == "retry"]
    assert len(throttled) == 12
    for row in throttled:  # Retry-After, not our (much shorter) backoff
        waited = (_aware(row.next_attempt_at) - _aware(row.updated_at)).total_seconds()
        assert 0.99 <= waited <= 1.01, waited
        assert row.last_error == "429"
    started = asyncio.get_running_loop().time()
    await drain(dispatcher, notify_db)

    assert asyncio.get_running_loop().time() - started >= 0.8
    assert {(await row_of(notify_db, i)).status for i in ids} == {"sent"}
    assert sorted(m.message_id for m in sendgrid.sent) == sorted(ids)  # each exactly once
    assert sendgrid.faults.throttled == 12


async def test_server_errors_are_retried_until_the_attempts_run_out(
    notify_db: Database, keys: LocalKeys, sendgrid: SendGridLoopback, twilio: TwilioLoopback
) -> None:
    message_id = await queue(notify_db, keys)
    sendgrid.faults.server_errors = 100
    dispatcher = make_dispatcher(
        notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio), max_attempts=3
    )

    await drain(dispatcher, notify_db)

    row = await row_of(notify_db, message_id)
    assert (row.status, row.last_error, row.attempts) == ("failed", "gave-up", 3)
    assert sendgrid.calls == 3 and not sendgrid.sent


async def test_permanent_errors_are_recorded_and_not_retried(
    notify_db: Database, keys: LocalKeys, sendgrid: SendGridLoopback, twilio: TwilioLoopback
) -> None:
    sendgrid.faults.invalid.add("nobody@invalid.example")
    twilio.faults.invalid.add("+47123")
    email_id = await queue(notify_db, keys, to="nobody@invalid.example")
    sms_id = await queue(notify_db, keys, channel="sms", to="+47123", body="Kvittering")
    dispatcher = make_dispatcher(notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio))

    await drain(dispatcher, notify_db)
    await dispatcher.run_once()

    email, sms = await row_of(notify_db, email_id), await row_of(notify_db, sms_id)
    assert (email.status, email.last_error, email.attempts) == ("failed", "sendgrid-400", 1)
    assert (sms.status, sms.last_error, sms.attempts) == ("failed", "twilio-21211", 1)
    assert sendgrid.calls == 1 and twilio.calls == 1
    assert "invalid" not in email.last_error and "123" not in sms.last_error  # codes only


def _parts(email: SentEmail) -> dict[str, str]:
    return {c["type"]: c["value"] for c in email.content}


@pytest.mark.parametrize(
    ("language", "greeting", "subject"),
    [
        ("nb", "Hei Ola Nordmann,", "SMS fra Bodø Roklubb, sendt på e-post"),
        ("en", "Hi Ola Nordmann,", "Text message from Bodø Roklubb, sent by email"),
    ],
)
async def test_an_sms_to_a_number_that_sent_stop_suppresses_it_and_a_receipt_goes_by_email(
    notify_db: Database,
    keys: LocalKeys,
    sendgrid: SendGridLoopback,
    twilio: TwilioLoopback,
    language: str,
    greeting: str,
    subject: str,
) -> None:
    twilio.faults.opted_out.add("+4791111111")
    member = keys.new_member()
    contacts = Emails()
    contacts.members[member] = EmailContact("ola@example.no", "Ola Nordmann", ORG_NAME, language)
    receipt = await queue(
        notify_db, keys, channel="sms", to="+4791111111", member_id=member, body=RECEIPT_SMS
    )
    reminder = await queue(
        notify_db,
        keys,
        channel="sms",
        to="+4791111111",
        member_id=member,
        template="payment-reminder",
        message_class="service",
        body="Husk betaling",
    )
    dispatcher = make_dispatcher(
        notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio), contacts=contacts
    )

    await dispatcher.run_once()  # the first SMS meets 21610; the other is refused with it
    await drain(dispatcher, notify_db)

    sms = await row_of(notify_db, receipt)
    assert (sms.status, sms.last_error) == ("failed", "twilio-21610")
    async with notify_db.sessions() as session:
        listed = (await session.execute(select(suppressions))).all()
    assert [(s.channel, s.reason) for s in listed] == [("sms", "sms-stop")]
    assert listed[0].address_hash == address_hash(SUPPRESSION_KEY, "sms", "+4791111111")
    fallback = await row_of(notify_db, fallback_id(receipt))
    assert (fallback.channel, fallback.fallback_of, fallback.status) == ("email", receipt, "sent")
    # A real email in the member's language: it names the org, greets the member, says the
    # message was meant for their phone and carries the SMS text (escaped in the HTML).
    [email] = sendgrid.sent
    assert email.to == ["ola@example.no"] and email.custom_args["message_id"] == fallback.id
    assert email.subject == subject
    text, html = _parts(email)["text/plain"], _parts(email)["text/html"]
    assert text.startswith(greeting) and RECEIPT_SMS in text
    assert "<p>" + greeting + "</p>" in html
    assert RECEIPT_SMS.replace("&", "&amp;") in html and RECEIPT_SMS not in html
    # The service message falls back to nothing; and no SMS reached the number.
    assert (await row_of(notify_db, reminder)).status == "failed"
    assert not twilio.sent

    later = await queue(notify_db, keys, channel="sms", to="+47 911 11 111", member_id=member)
    calls = twilio.calls
    await drain(dispatcher, notify_db)
    row = await row_of(notify_db, later)
    assert (row.status, row.last_error) == ("failed", "suppressed:sms-stop")
    assert twilio.calls == calls  # never asked


async def test_the_email_instead_of_a_stopped_sms_uses_the_orgs_own_wording(
    notify_db: Database, keys: LocalKeys, sendgrid: SendGridLoopback, twilio: TwilioLoopback
) -> None:
    async with notify_db.transaction() as session:
        await TemplateOverrides().save(
            session,
            ORG,
            SMS_FALLBACK,
            "nb",
            "subject",
            "{{ org_name }}: kvitteringen din kommer på e-post",
            datetime.now(UTC),
        )
    twilio.faults.opted_out.add("+4792222222")
    member = keys.new_member()
    contacts = Emails()
    contacts.members[member] = EmailContact("kari@example.no", "Kari", ORG_NAME, "nb")
    await queue(notify_db, keys, channel="sms", to="+4792222222", member_id=member, body="Takk!")
    dispatcher = make_dispatcher(
        notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio), contacts=contacts
    )

    await drain(dispatcher, notify_db)

    [email] = sendgrid.sent
    assert email.subject == "Bodø Roklubb: kvitteringen din kommer på e-post"
    assert "Takk!" in _parts(email)["text/plain"]  # the parts it leaves alone are ours


async def test_a_suppressed_address_is_never_sent_to(
    notify_db: Database, keys: LocalKeys, sendgrid: SendGridLoopback, twilio: TwilioLoopback
) -> None:
    async with notify_db.transaction() as session:
        hashed = address_hash(SUPPRESSION_KEY, "email", "bounced@example.no")
        await suppress(session, ORG, "email", hashed, "bounce", datetime.now(UTC))
    message_id = await queue(notify_db, keys, to="  Bounced@Example.no")
    dispatcher = make_dispatcher(notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio))

    await drain(dispatcher, notify_db)

    row = await row_of(notify_db, message_id)
    assert (row.status, row.last_error) == ("failed", "suppressed:bounce")
    assert sendgrid.calls == 0


async def test_an_erased_member_gets_nothing(
    notify_db: Database, keys: LocalKeys, sendgrid: SendGridLoopback, twilio: TwilioLoopback
) -> None:
    message_id = await queue(notify_db, keys)
    row = await row_of(notify_db, message_id)
    keys.forget(row.member_id)  # the keyring shredded the key: _fetch finds none
    dispatcher = make_dispatcher(notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio))

    await drain(dispatcher, notify_db)

    row = await row_of(notify_db, message_id)
    assert (row.status, row.last_error) == ("failed", "member-erased")
    assert sendgrid.calls == 0


async def test_marketing_email_carries_one_click_unsubscribe_and_its_group(
    notify_db: Database, keys: LocalKeys, sendgrid: SendGridLoopback, twilio: TwilioLoopback
) -> None:
    message_id = await queue(
        notify_db, keys, template="newsletter", purpose="newsletter", message_class="marketing"
    )
    dispatcher = make_dispatcher(notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio))

    await drain(dispatcher, notify_db)

    [sent] = sendgrid.sent
    assert sent.headers == {
        "List-Unsubscribe": f"<https://notify.example/unsubscribe/{message_id}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert sent.asm == {"group_id": 4242}


async def test_marketing_email_without_an_unsubscribe_link_is_not_sent(
    notify_db: Database, keys: LocalKeys, sendgrid: SendGridLoopback, twilio: TwilioLoopback
) -> None:
    message_id = await queue(notify_db, keys, purpose="newsletter", message_class="marketing")
    email = sendgrid_email(sendgrid, unsubscribe_url=None)
    dispatcher = make_dispatcher(notify_db, keys, email, twilio_sms(twilio), max_attempts=2)

    await drain(dispatcher, notify_db)

    assert (await row_of(notify_db, message_id)).status == "failed"
    assert sendgrid.calls == 0


async def test_two_dispatchers_racing_send_each_message_once(
    notify_db: Database,
    keys: LocalKeys,
    sendgrid: SendGridLoopback,
    twilio: TwilioLoopback,
    database_url: str,
) -> None:
    ids = [await queue(notify_db, keys, to=f"m{i}@example.no") for i in range(60)]
    other_db = Database(database_url)
    try:
        first = make_dispatcher(
            notify_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio), batch_size=7
        )
        second = make_dispatcher(
            other_db, keys, sendgrid_email(sendgrid), twilio_sms(twilio), batch_size=5
        )
        await asyncio.gather(drain(first, notify_db), drain(second, other_db))
    finally:
        await other_db.close()

    assert sorted(m.message_id for m in sendgrid.sent) == sorted(ids)
    assert sendgrid.calls == 60
    assert {(r.status, r.attempts) for r in await rows(notify_db)} == {("sent", 1)}
