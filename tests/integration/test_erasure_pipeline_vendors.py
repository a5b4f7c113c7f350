"""The erasure pipeline with a sub-processor that deletes later (SendGrid's erase job) and the
edge cases around it: the request waits for SendGrid's confirmation, every address notify's
messages went to is erased, a member SendGrid holds nothing of completes, a key shredded
directly in the middle does not block the request, and a crash between shredding the key and
recording it is not reported as a shredding from before the request."""

from __future__ import annotations

import asyncio
import json
import math

from prometheus_client import REGISTRY
from sqlalchemy import update

from services.erasure.adapters.orm import privacy_requests
from services.erasure.domain.ledger import request_scope
from services.erasure.domain.plan import DONE, STUCK_AFTER
from services.erasure.entrypoints.grpc_requests import request_message
from services.erasure.service_layer.request_metrics import RequestMetrics
from tests.integration.test_erasure_pipeline_support import (
    ADMIN,
    EMAIL,
    ORG,
    Pipeline,
    pipeline,
    send_email,
    task,
)

__all__ = ["pipeline"]  # a fixture


async def _entries(p: Pipeline, request_id: str) -> dict[str, dict]:  # type: ignore[type-arg]
    _, rows = await p.requests.certificate(ADMIN.org_id, request_id)
    return {json.loads(r.canonical_json)["target"]: json.loads(r.canonical_json) for r in rows}


async def test_the_request_waits_for_sendgrid_to_confirm_its_erase_job(pipeline: Pipeline) -> None:
    member = await pipeline.member()
    pipeline.sendgrid.erase_delay_s = 0.5
    view = await pipeline.file_and_verify(member)

    waiting = await pipeline.drive(
        view.request.id, lambda v: task(v, "sendgrid").status == "awaiting-vendor"
    )

    shown = {t.target: t for t in request_message(waiting).targets}  # as `erasure status` shows
    assert shown["sendgrid"].status == "awaiting-vendor"
    assert shown["sendgrid"].outcome.startswith("deletion-requested")
    assert "SendGrid erase job" in shown["sendgrid"].outcome
    assert waiting.request.status == "in_progress"
    assert task(waiting, "keyring").status != DONE
    assert (await pipeline.keyring.state(member)).shredded_at is None  # type: ignore[union-attr]

    done = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    assert pipeline.sendgrid.erased == [EMAIL]  # asked once, then polled
    assert not pipeline.sendgrid.sent
    entry = (await _entries(pipeline, done.request.id))["sendgrid"]
    assert entry["action"] == "deleted-confirmed"
    assert "deletion confirmed" in entry["note"]


async def test_an_erase_job_sendgrid_never_confirms_leaves_the_request_open_and_alerting(
    pipeline: Pipeline,
) -> None:
    member = await pipeline.member()
    pipeline.sendgrid.erase_delay_s = math.inf
    view = await pipeline.file_and_verify(member)

    stuck = await pipeline.drive(
        view.request.id, lambda v: task(v, "sendgrid").attempts > STUCK_AFTER
    )

    assert stuck.request.status == "in_progress"
    assert task(stuck, "sendgrid").status == "awaiting-vendor"
    assert pipeline.sendgrid.erased == [EMAIL]  # polled, never asked again
    assert (await pipeline.keyring.state(member)).shredded_at is None  # type: ignore[union-attr]
    await RequestMetrics(pipeline.db, ["twilio", "sendgrid"]).refresh()
    assert REGISTRY.get_sample_value("erasure_targets_stuck", {"target": "sendgrid"}) == 1


async def test_every_address_notify_sent_to_is_erased_at_sendgrid(pipeline: Pipeline) -> None:
    member = await pipeline.member()
    # The member changed address: notify also sent an email to the old one.
    old_id = await asyncio.to_thread(send_email, pipeline.sendgrid, "kari.gammel@example.no")
    notify = pipeline.stores["notify"].outcome
    notify.provider_records["sendgrid"] = [*notify.provider_records["sendgrid"], old_id]
    view = await pipeline.file_and_verify(member)

    await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    assert sorted(pipeline.sendgrid.erased) == sorted([EMAIL, "kari.gammel@example.no"])
    assert not pipeline.sendgrid.sent


async def test_a_member_sendgrid_holds_nothing_of_and_no_address_completes(
    pipeline: Pipeline,
) -> None:
    member = await pipeline.member()
    pipeline.sendgrid.sent.clear()  # SendGrid no longer lists notify's message
    view = await pipeline.file_and_verify(member)
    async with pipeline.db.transaction() as session:  # no address was captured either
        await session.execute(
            update(privacy_requests)
            .where(privacy_requests.c.id == view.request.id)
            .values(sealed_email=None)
        )

    done = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    assert pipeline.sendgrid.erased == []
    entry = (await _entries(pipeline, done.request.id))["sendgrid"]
    assert entry["action"] == "nothing-held"
    assert "nothing left there to delete" in entry["note"]


async def test_a_key_shredded_directly_during_the_request_does_not_block_it(
    pipeline: Pipeline,
) -> None:
    member = await pipeline.member()
    pipeline.sendgrid.faults.server_errors = 2  # SendGrid is down a while
    view = await pipeline.file_and_verify(member)
    await pipeline.drive(view.request.id, lambda v: task(v, "sendgrid").attempts >= 1)

    await pipeline.keyring.shred(member, ORG, "direct")  # the sealed address is unreadable now

    done = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")
    assert pipeline.sendgrid.erased == [EMAIL]  # found through SendGrid's own activity
    keyring = (await _entries(pipeline, done.request.id))["keyring"]
    assert "(before this request)" in keyring["note"]


async def test_a_crash_between_shredding_and_recording_is_not_called_an_earlier_shredding(
    pipeline: Pipeline,
) -> None:
    member = await pipeline.member()
    pipeline.twilio.faults.server_errors = 1  # holds the key task back one retry
    view = await pipeline.file_and_verify(member)
    await pipeline.drive(view.request.id, lambda v: task(v, "twilio").attempts >= 1)
    # As an earlier attempt of this request's key task would have, dying before recording.
    await pipeline.keyring.shred(member, ORG, request_scope(view.request.id))

    done = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    keyring = (await _entries(pipeline, done.request.id))["keyring"]
    assert keyring["note"].startswith("shredded at")
    assert "before this request" not in keyring["note"]
