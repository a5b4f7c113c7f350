"""Notify's retention sweep under an org's own profile deletes Twilio's copy of each due text
message by its SID (the official SDK against the loopback Twilio) before the message goes
from the log. A copy Twilio would not delete keeps its message, SID and all, for the next
run; nothing is lost and nothing is left at Twilio. A rule counted from the end of the
membership runs from membership's status change to lapsed or cancelled, and not for a
member who came back."""

from __future__ import annotations

from datetime import date, timedelta

from membership.v1 import events_pb2 as member_events_pb2
from sqlalchemy import update

from services.common.db.engine import Database
from services.common.envelope import new_envelope
from services.common.retention import RetentionProfile
from services.notify.adapters.orm import messages
from services.notify.service_layer.retention import NotifyRetention, on_status_changed
from tests.integration.test_notify_dispatch_support import (
    ORG,
    keys,
    make_dispatcher,
    notify_db,
    queue,
    rows,
    twilio,
    twilio_sms,
)
from tests.loopback.keys import LocalKeys
from tests.loopback.twilio import TwilioLoopback

__all__ = ["keys", "notify_db", "twilio"]  # fixtures


def month_of_messages(after: str) -> RetentionProfile:
    """Messages kept 30 days (after `after`); the member record is not the profile's."""
    return RetentionProfile.model_validate(
        {
            "name": "club",
            "seed": "Our policy",
            "version": 1,
            "rules": [
                {
                    "category": "message-log",
                    "keep": "30 days",
                    "after": after,
                    "action": "delete",
                    "basis": "contract",
                    "source": "Meldinger slettes etter 30 dager.",
                }
            ],
        }
    )


MONTH_OF_MESSAGES = month_of_messages("collection")


class NoConsents:
    async def consents(self, org_id: str, member_id: str) -> None:
        raise AssertionError("no marketing rule: no consent history is needed")


async def test_due_messages_are_deleted_at_twilio_by_sid(
    notify_db: Database, keys: LocalKeys, twilio: TwilioLoopback
) -> None:
    sms = twilio_sms(twilio)
    for number in ("+4791111111", "+4792222222"):
        await queue(notify_db, keys, channel="sms", to=number)
    await make_dispatcher(notify_db, keys, None, sms).drain()
    sids = sorted(m.sid for m in twilio.sent)
    assert len(sids) == 2
    sweep = NotifyRetention(notify_db, NoConsents(), {}, [sms])
    later = date.today() + timedelta(days=40)

    twilio.faults.server_errors = 1  # Twilio refuses the first deletion
    first = await sweep.sweep_org(ORG, MONTH_OF_MESSAGES, later)

    assert first == {("message-log", "delete"): 1}
    [left] = await rows(notify_db)
    assert left.provider_ref in sids and twilio.deleted == sorted(set(sids) - {left.provider_ref})

    second = await sweep.sweep_org(ORG, MONTH_OF_MESSAGES, later)

    assert second == {("message-log", "delete"): 1}
    assert await rows(notify_db) == [] and sorted(twilio.deleted) == sids
    assert twilio.sent == []


async def status_changed(db: Database, member_id: str, old: str, new: str) -> None:
    envelope = new_envelope(
        "membership.member-status-changed",
        member_events_pb2.MemberStatusChanged(
            member_id=member_id, org_id=ORG, old_status=old, new_status=new
        ),
        org_id=ORG,
        subject_id=member_id,
    )
    async with db.transaction() as session:
        await on_status_changed(session, envelope)


async def test_messages_go_a_month_after_the_membership_ended(
    notify_db: Database, keys: LocalKeys
) -> None:
    lapsed, back, running = keys.new_member(), keys.new_member(), keys.new_member()
    for member_id in (lapsed, back, running):
        await queue(notify_db, keys, member_id=member_id)
    async with notify_db.transaction() as session:
        await session.execute(update(messages).values(status="delivered"))
    await status_changed(notify_db, lapsed, "active", "lapsed")
    await status_changed(notify_db, back, "active", "cancelled")
    await status_changed(notify_db, back, "cancelled", "active")
    sweep = NotifyRetention(notify_db, NoConsents(), {})
    profile = month_of_messages("end_of_relationship")

    soon = await sweep.sweep_org(ORG, profile, date.today() + timedelta(days=20))
    later = await sweep.sweep_org(ORG, profile, date.today() + timedelta(days=40))

    assert soon == {} and later == {("message-log", "delete"): 1}
    assert sorted(r.member_id for r in await rows(notify_db)) == sorted([back, running])
