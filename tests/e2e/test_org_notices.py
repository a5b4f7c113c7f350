"""When the sub-processor list changes, every org's contact is emailed once, in the org's
language, with the list (names, purpose, location, transfer basis); the same event delivered
again sends nothing more. Membership's ListOrgContacts, which notify pages through, answers
the internal token only and names a bad page size."""

from __future__ import annotations

import re
import urllib.request

import grpc
import pytest
from membership.v1 import membership_pb2 as pb
from membership.v1 import membership_pb2_grpc
from privacy.v1 import events_pb2, subprocessors_pb2, subprocessors_pb2_grpc

from kontingent_cli.devstack import Stack
from services.common.envelope import new_envelope
from services.common.topics import SUBPROCESSORS_CHANGED
from tests.e2e.helpers import OrgApi, create_org, emails_to, publish, wait_until

pytestmark = pytest.mark.e2e

CONTACT = "styret@underleverandor.example.no"
CONSUMER = "notify.subprocessors-changed"


def duplicates_seen(stack: Stack) -> float:
    """Notify's count of events its sub-processor consumer found handled before."""
    with urllib.request.urlopen(f"{stack.http_url('notify')}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    pattern = rf'_consumer_messages_total{{consumer="{CONSUMER}",outcome="duplicate"}} (\S+)'
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


def sent_files(stack: Stack) -> dict[str, int]:
    """The sandbox's email files to CONTACT, with when each was last written."""
    folder = stack.data_dir / "sandbox" / "email"
    return {
        path.name: path.stat().st_mtime_ns
        for path in folder.glob("*.json")
        if CONTACT in path.read_text(encoding="utf-8")
    }


def test_each_org_contact_is_told_once_when_the_subprocessors_change(stack: Stack) -> None:
    org = create_org(stack, "Underleverandør IL", "941500005")
    admin = OrgApi(stack, org["api_key"])
    internal = (("authorization", f"Bearer {stack.secrets['INTERNAL_TOKEN']}"),)
    channel = grpc.insecure_channel(stack.grpc_addr("membership"))
    directory = membership_pb2_grpc.InternalDirectoryStub(channel)
    erasure = grpc.insecure_channel(stack.grpc_addr("erasure"))
    try:
        admin(
            "UpdateOrg",
            pb.UpdateOrgRequest(
                contact_email=CONTACT,
                language="en",
                update_mask={"paths": ["contact_email", "language"]},
            ),
        )
        # An org's key cannot list the orgs; a bad page size is named.
        with pytest.raises(grpc.RpcError) as denied:
            directory.ListOrgContacts(
                pb.ListOrgContactsRequest(),
                metadata=(("authorization", f"Bearer {org['api_key']}"),),
                timeout=10,
            )
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as bad:
            directory.ListOrgContacts(
                pb.ListOrgContactsRequest(page_size=501), metadata=internal, timeout=10
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_size" in (bad.value.details() or "")

        current = subprocessors_pb2_grpc.SubprocessorsStub(erasure).ListSubprocessors(
            subprocessors_pb2.ListSubprocessorsRequest(), metadata=internal, timeout=10
        )
        envelope = new_envelope(
            "privacy.subprocessors-changed",
            events_pb2.SubprocessorsChanged(
                version=current.version,
                previous_version=current.version - 1,
                last_changed=current.last_changed,
                names=[s.name for s in current.subprocessors],
            ),
            org_id="",
        )
        publish(stack, SUBPROCESSORS_CHANGED, envelope)

        [mail] = wait_until(lambda: emails_to(stack, CONTACT), what="the sub-processor notice")
        assert mail["subject"] == (
            f"Kontingent: changes to the list of sub-processors (version {current.version})"
        )
        text = next(c["value"] for c in mail["content"] if c["type"] == "text/plain")
        assert "To Underleverandør IL" in text
        for listed in current.subprocessors:
            assert f"- {listed.name}: {listed.purpose}" in text
            assert f"Transfer basis: {listed.transfer_basis}" in text

        written = sent_files(stack)
        before = duplicates_seen(stack)
        publish(stack, SUBPROCESSORS_CHANGED, envelope)  # delivered again
        wait_until(lambda: duplicates_seen(stack) > before, what="the redelivery handled")
        # The sandbox writes a file per send: none was written again.
        assert sent_files(stack) == written and len(written) == 1
    finally:
        admin.close()
        channel.close()
        erasure.close()
