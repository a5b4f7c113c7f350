"""What the certificate says beyond the stores' own answers: the recipients told (GDPR art.
19) and the member's erasure-confirmed email, sent before any store forgets the member; a
plan made before a deploy that added a target gets the new task and completes; the admin's
free text is sealed with the member's key, readable until the erasure shreds it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select, update

from services.common.grpc.data_subject import ErasureOutcome, Removed
from services.erasure.adapters.orm import erasure_tasks, privacy_requests
from services.erasure.domain.certificate import Entry, verify
from services.erasure.domain.plan import DONE
from services.erasure.service_layer.planning import ErasurePlanner
from services.erasure.service_layer.requests import UNREADABLE, seal_free_text
from tests.integration.test_erasure_pipeline_support import (
    ADMIN,
    Pipeline,
    pipeline,
    task,
)

__all__ = ["pipeline"]  # a fixture


async def _bodies(p: Pipeline, request_id: str) -> dict[str, dict[str, Any]]:
    request, rows = await p.requests.certificate(ADMIN.org_id, request_id)
    entries = [Entry(r.canonical_json, r.hash) for r in rows]
    assert verify(entries, request.certificate_head_hash) == []
    return {json.loads(e.canonical_json)["target"]: json.loads(e.canonical_json) for e in entries}


async def test_each_subprocessor_that_held_data_is_recorded_as_told_in_the_chain(
    pipeline: Pipeline,
) -> None:
    notify = pipeline.stores["notify"]
    # A recipient notify reports that no target deletes at: shown as not told.
    notify.outcome = ErasureOutcome(
        removed=[Removed("message-log", "messages", 2)],
        provider_records={**notify.outcome.provider_records, "faxservice": ["fax-1"]},
    )
    view = await pipeline.file_and_verify(await pipeline.member())
    done = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    bodies = await _bodies(pipeline, done.request.id)
    told = {
        target: [(r["recipient"], r["told"]) for r in body["recipients_told"]]
        for target, body in bodies.items()
    }
    assert told == {
        "confirmation": [],
        "membership": [],
        "billing": [],
        "notify": [("faxservice", False)],
        "stripe": [("Stripe", True)],
        "sendgrid": [("SendGrid (Twilio Inc.)", True)],
        "twilio": [("Twilio", True)],
        "keyring": [],
    }
    twilio = bodies["twilio"]["recipients_told"][0]
    assert "DELETE of each message by its SID" in twilio["how"]
    assert twilio["at"] >= bodies["notify"]["at"]


async def test_a_subprocessor_that_held_nothing_is_not_listed_as_a_recipient(
    pipeline: Pipeline,
) -> None:
    pipeline.stores["notify"].outcome = ErasureOutcome(removed=[Removed("message-log", "m", 1)])
    view = await pipeline.file_and_verify(await pipeline.member())
    done = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    bodies = await _bodies(pipeline, done.request.id)
    assert bodies["twilio"]["action"] == "nothing-held"
    assert bodies["twilio"]["recipients_told"] == []


async def test_the_confirmation_is_sent_before_membership_or_notify_forget_the_member(
    pipeline: Pipeline,
) -> None:
    confirmations = pipeline.confirmations
    assert confirmations is not None
    confirmations.pending = 2  # queued at notify, sent on the third ask
    view = await pipeline.file_and_verify(await pipeline.member())
    done = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    assert confirmations.calls == [False, False, False]  # membership still knew the member
    assert task(done, "confirmation").attempts == 3
    assert len(pipeline.stores["membership"].calls) == 1
    assert len(pipeline.stores["notify"].calls) == 1
    bodies = await _bodies(pipeline, done.request.id)
    assert bodies["confirmation"]["action"] == "member-told"
    order = list(bodies)
    assert order.index("confirmation") < min(order.index("membership"), order.index("notify"))


async def test_a_plan_made_before_a_target_was_added_gets_it_and_completes(
    pipeline: Pipeline,
) -> None:
    view = await pipeline.file_and_verify(await pipeline.member())
    # As planned by the release before the confirmation target existed.
    async with pipeline.db.transaction() as session:
        await session.execute(
            delete(erasure_tasks).where(
                erasure_tasks.c.request_id == view.request.id,
                erasure_tasks.c.target == "confirmation",
            )
        )
    for _ in range(3):
        await pipeline.runner.run_once()
    stranded = await pipeline.requests.get(ADMIN.org_id, view.request.id)
    assert stranded.request.status == "in_progress"
    assert task(stranded, "keyring").status != DONE

    added = await ErasurePlanner(pipeline.runner.registry).add_missing_tasks(pipeline.db)
    done = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    assert added == 1
    order = [t.target for t in done.tasks]
    assert order.index("confirmation") < order.index("notify")
    assert order[-1] == "keyring"
    assert "confirmation" in await _bodies(pipeline, done.request.id)
    assert await ErasurePlanner(pipeline.runner.registry).add_missing_tasks(pipeline.db) == 0


async def _stored(p: Pipeline, request_id: str) -> tuple[str, str]:
    async with p.db.sessions() as session:
        row = (
            await session.execute(
                select(
                    privacy_requests.c.identity_attestation, privacy_requests.c.extension_reason
                ).where(privacy_requests.c.id == request_id)
            )
        ).one()
    return row.identity_attestation or "", row.extension_reason or ""


async def test_the_admins_free_text_is_sealed_and_unreadable_after_the_erasure(
    pipeline: Pipeline,
) -> None:
    member = await pipeline.member()
    filed = await pipeline.requests.file(ADMIN, member, "erasure")
    extended = await pipeline.requests.extend(
        ADMIN, filed.request.id, 1, "Kari Nordmann asked for more time", member_told=True
    )
    assert extended.free_text["extension_reason"] == "Kari Nordmann asked for more time"
    verified = await pipeline.requests.verify_identity(
        ADMIN, filed.request.id, "id-card", "Kari Nordmann, passport 12345678"
    )
    assert verified.free_text["identity_attestation"] == "Kari Nordmann, passport 12345678"
    attestation, reason = await _stored(pipeline, filed.request.id)
    assert "Kari" not in attestation + reason and "12345678" not in attestation

    await pipeline.relay.publish_batch()
    for record in await pipeline.read_topic("privacy.erasure-requested.v1"):
        if (record.key or b"").decode() == member:
            await pipeline.consumer.process(record.value, record.key, attempt=0)
    done = await pipeline.drive(filed.request.id, lambda v: v.request.status == "completed")

    assert done.free_text == {"identity_attestation": UNREADABLE, "extension_reason": UNREADABLE}


async def test_free_text_written_before_sealing_is_sealed_at_start(pipeline: Pipeline) -> None:
    live = await pipeline.requests.file(ADMIN, await pipeline.member(), "erasure")
    gone = await pipeline.requests.file(ADMIN, await pipeline.member(), "erasure")
    async with pipeline.db.transaction() as session:
        await session.execute(
            update(privacy_requests)
            .where(privacy_requests.c.id.in_([live.request.id, gone.request.id]))
            .values(identity_attestation="Ola Nordmann, driving licence")
        )
    await pipeline.keyring.shred(gone.request.subject_id, None, "direct")

    assert await seal_free_text(pipeline.db, pipeline.keyring) == 2
    assert await seal_free_text(pipeline.db, pipeline.keyring) == 0

    assert "Ola" not in (await _stored(pipeline, live.request.id))[0]
    assert (await _stored(pipeline, gone.request.id))[0] == ""
    view = await pipeline.requests.get(ADMIN.org_id, live.request.id)
    assert view.free_text["identity_attestation"] == "Ola Nordmann, driving licence"
