"""The erasure pipeline end to end inside the erasure service: a verified request is announced
through the outbox and the real broker, planned by the idempotent consumer, and driven through
every target (the three stores over gRPC, Stripe through billing's receipt, SendGrid and
Twilio on their loopback servers through the official SDKs, the key last) to a certificate."""

from __future__ import annotations

import asyncio
import json

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete, update

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.grpc.auth import Principal
from services.common.grpc.data_subject import ErasureOutcome
from services.common.timestamps import as_utc
from services.erasure.adapters.orm import certificate_entries, privacy_requests
from services.erasure.domain.certificate import Entry, verify
from services.erasure.domain.plan import DONE, STUCK_AFTER
from services.erasure.service_layer.request_metrics import RequestMetrics
from tests.integration.test_erasure_pipeline_support import (
    ADMIN,
    EMAIL,
    ORG,
    Pipeline,
    pipeline,
    task,
)

__all__ = ["pipeline"]  # a fixture


def failures(target: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "erasure_target_attempts_total", {"target": target, "outcome": "failed"}
        )
        or 0.0
    )


async def _certificate(p: Pipeline, request_id: str) -> tuple[list[Entry], str]:
    request, rows = await p.requests.certificate(ADMIN.org_id, request_id)
    return [Entry(r.canonical_json, r.hash) for r in rows], request.certificate_head_hash


async def test_a_subprocessor_failing_five_times_then_succeeding_ends_completed(
    pipeline: Pipeline,
) -> None:
    member = await pipeline.member()
    pipeline.twilio.faults.server_errors = 5
    before = failures("twilio")
    view = await pipeline.file_and_verify(member)
    assert view.request.status == "in_progress"
    assert [h.status for h in view.history] == ["received", "identity_verified", "in_progress"]

    done = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    assert task(done, "twilio").attempts == 6
    assert failures("twilio") - before == 5
    # Counted once, as failed attempts; no second counter of the same failures.
    assert REGISTRY.get_sample_value("erasure_target_failures_total", {"target": "twilio"}) is None
    assert pipeline.twilio.deleted == [pipeline.sms_sid]
    assert pipeline.sendgrid.erased == [EMAIL]
    assert done.request.sealed_email is None  # the captured address is gone too
    assert [h.status for h in done.history][-1] == "completed"
    entries, head = await _certificate(pipeline, done.request.id)
    assert verify(entries, head) == []
    actions = {
        json.loads(e.canonical_json)["target"]: json.loads(e.canonical_json)["action"]
        for e in entries
    }
    assert actions == {
        "confirmation": "member-told",
        "membership": "deleted",
        "billing": "pseudonymised",
        "notify": "deleted",
        "stripe": "deleted",  # by billing's Erase: recorded, not called twice
        "sendgrid": "deleted-confirmed",
        "twilio": "deleted",
        "keyring": "key-shredded",
    }
    assert all(len(store.calls) == 1 for store in pipeline.stores.values())


async def test_a_subprocessor_that_never_succeeds_leaves_the_request_open_and_alerting(
    pipeline: Pipeline,
) -> None:
    member = await pipeline.member()
    pipeline.twilio.faults.server_errors = 10_000
    view = await pipeline.file_and_verify(member)

    stuck = await pipeline.drive(
        view.request.id, lambda v: task(v, "twilio").attempts > STUCK_AFTER
    )

    assert stuck.request.status == "in_progress"
    assert task(stuck, "twilio").last_error == "twilio-20500"
    assert task(stuck, "keyring").status != DONE
    assert (await pipeline.keyring.state(member)).shredded_at is None  # type: ignore[union-attr]
    await RequestMetrics(pipeline.db, ["twilio", "sendgrid"]).refresh()
    assert REGISTRY.get_sample_value("erasure_targets_stuck", {"target": "twilio"}) == 1
    assert REGISTRY.get_sample_value("erasure_targets_stuck", {"target": "sendgrid"}) == 0
    assert REGISTRY.get_sample_value("erasure_requests_open", {"type": "erasure"}) == 1
    with pytest.raises(FailedPrecondition, match="no certificate yet"):
        await pipeline.requests.certificate(ADMIN.org_id, view.request.id)


async def test_a_restart_mid_plan_resumes_where_it_stopped(pipeline: Pipeline) -> None:
    member = await pipeline.member()
    pipeline.twilio.faults.server_errors = 10_000
    view = await pipeline.file_and_verify(member)
    await pipeline.drive(view.request.id, lambda v: task(v, "twilio").attempts >= 2)

    await pipeline.restart()
    pipeline.twilio.faults.server_errors = 0
    done = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    assert all(len(store.calls) == 1 for store in pipeline.stores.values())  # not redone
    assert pipeline.sendgrid.erased == [EMAIL]
    entries, head = await _certificate(pipeline, done.request.id)
    assert verify(entries, head) == []


async def test_a_request_with_every_task_done_but_never_completed_is_completed_later(
    pipeline: Pipeline,
) -> None:
    view = await pipeline.file_and_verify(await pipeline.member())
    await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")
    # As if the process died after recording the key's shredding, before the completion.
    async with pipeline.db.transaction() as session:
        await session.execute(
            delete(certificate_entries).where(certificate_entries.c.request_id == view.request.id)
        )
        await session.execute(
            update(privacy_requests)
            .where(privacy_requests.c.id == view.request.id)
            .values(status="in_progress", completed_at=None, certificate_head_hash=None)
        )

    again = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    entries, head = await _certificate(pipeline, again.request.id)
    assert head and verify(entries, head) == []


async def test_a_request_waiting_on_a_retry_does_not_hold_up_newer_ones(
    pipeline: Pipeline,
) -> None:
    pipeline.runner.backoff_base_s = pipeline.runner.backoff_cap_s = 3600.0
    pipeline.runner.batch_size = 1  # one request a pass: a waiting one taken up starves the rest
    first = await pipeline.file_and_verify(await pipeline.member())
    pipeline.twilio.faults.server_errors = 1
    waiting = await pipeline.drive(first.request.id, lambda v: task(v, "twilio").attempts == 1)
    assert task(waiting, "twilio").status == "retrying"

    # Its key task is due but waits on Twilio's retry, an hour away: nothing to take up.
    assert await pipeline.runner.run_once() == 0
    waiting = await pipeline.requests.get(ORG, first.request.id)
    assert as_utc(task(waiting, "keyring").next_attempt_at) == as_utc(
        task(waiting, "twilio").next_attempt_at
    )
    second = await pipeline.file_and_verify(await pipeline.member())
    await pipeline.drive(second.request.id, lambda v: v.request.status == "completed")
    assert (await pipeline.requests.get(ORG, first.request.id)).request.status == "in_progress"


async def test_a_request_planned_while_another_waits_on_a_target_is_not_held_up(
    pipeline: Pipeline,
) -> None:
    billing = pipeline.stores["billing"]
    slow_member = await pipeline.member()
    called, release = asyncio.Event(), asyncio.Event()
    answer = billing.erase

    async def slow_for_one(org_id: str, subject_id: str) -> ErasureOutcome:
        if subject_id == slow_member:
            called.set()
            await release.wait()
        return await answer(org_id, subject_id)

    billing.erase = slow_for_one  # type: ignore[method-assign]
    slow = await pipeline.file_and_verify(slow_member)

    async def passes() -> None:  # as the service runs them
        while True:
            await pipeline.runner.next_pass()

    loop = asyncio.create_task(passes())
    try:
        await asyncio.wait_for(called.wait(), 5.0)
        quick = await pipeline.file_and_verify(await pipeline.member())
        pipeline.runner.wake()  # as the planner's commit does
        for _ in range(250):
            view = await pipeline.requests.get(ORG, quick.request.id)
            if view.request.status == "completed":
                break
            await asyncio.sleep(0.02)
        assert view.request.status == "completed"
        assert (await pipeline.requests.get(ORG, slow.request.id)).request.status == "in_progress"
    finally:
        release.set()
        loop.cancel()
        await pipeline.runner.stop()
    done = await pipeline.drive(slow.request.id, lambda v: v.request.status == "completed")
    assert task(done, "billing").status == DONE


async def test_a_tampered_certificate_entry_fails_verification(pipeline: Pipeline) -> None:
    member = await pipeline.member()
    view = await pipeline.file_and_verify(member)
    await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")
    entries, head = await _certificate(pipeline, view.request.id)
    billing = next(e for e in entries if '"target":"billing"' in e.canonical_json)
    seq = json.loads(billing.canonical_json)["seq"]

    # Someone with the database rewrites billing's entry to claim nothing was kept.
    forged = billing.canonical_json.replace('"action":"pseudonymised"', '"action":"deleted"')
    async with pipeline.db.transaction() as session:
        await session.execute(
            update(certificate_entries)
            .where(
                certificate_entries.c.request_id == view.request.id,
                certificate_entries.c.seq == seq,
            )
            .values(canonical_json=forged)
        )

    tampered, head = await _certificate(pipeline, view.request.id)
    assert verify(tampered, head) == [
        f"entry {seq}: its hash does not match its content",
        f"entry {seq + 1}: does not chain to the previous entry",
    ]


async def test_the_key_is_shredded_only_after_every_other_target_answered(
    pipeline: Pipeline,
) -> None:
    member = await pipeline.member()
    pipeline.sendgrid.faults.server_errors = 3
    view = await pipeline.file_and_verify(member)
    waiting = await pipeline.drive(view.request.id, lambda v: task(v, "sendgrid").attempts >= 2)
    assert task(waiting, "keyring").status != DONE
    assert (await pipeline.keyring.state(member)).shredded_at is None  # type: ignore[union-attr]

    done = await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    assert all(store.calls == [(member, True)] for store in pipeline.stores.values())
    shredded = task(done, "keyring").finished_at
    others = [as_utc(t.finished_at) for t in done.tasks if t.target != "keyring"]
    assert as_utc(shredded) >= max(others)
    assert [t.target for t in done.tasks][-1] == "keyring"


async def test_requests_are_scoped_to_their_org(pipeline: Pipeline) -> None:
    member = await pipeline.member()
    filed = await pipeline.requests.file(ADMIN, member, "erasure")
    other = Principal(kind="org", org_id="org-b", scopes=ADMIN.scopes, key_id="key-2")
    with pytest.raises(NotFound):
        await pipeline.requests.get(other.org_id, filed.request.id)
    with pytest.raises(NotFound):
        await pipeline.requests.file(other, member, "erasure")
    with pytest.raises(NotFound):
        await pipeline.requests.verify_identity(other, filed.request.id, "bankid", "checked")
    listed, _ = await pipeline.requests.list(ADMIN.org_id, "", "", 0, "")
    assert [v.request.id for v in listed] == [filed.request.id]


@pytest.mark.parametrize("token", ["²", "abc", "9" * 30])
async def test_a_page_token_this_service_did_not_issue_is_refused(
    pipeline: Pipeline, token: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await pipeline.requests.list(ORG, "", "", 0, token)
    assert set(caught.value.field_errors) == {"page_token"}
