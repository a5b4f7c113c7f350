"""An org's own marketing message reaches only members who consent to its purpose now, and
records that consent; the member's unsubscribe link withdraws the consent in membership with
one POST (never on GET: mail scanners follow links); a forged link is refused and changes
nothing; and receipts keep coming after the unsubscribe."""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from billing.v1 import events_pb2 as billing_events
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from membership.v1 import membership_pb2 as mpb
from membership.v1 import membership_pb2_grpc
from notify.v1 import notify_pb2 as npb
from notify.v1 import notify_pb2_grpc

from kontingent_cli.devstack import Stack
from services.common.envelope import new_envelope
from services.common.topics import PAYMENT_SUCCEEDED
from services.notify.messaging import API, POLICY
from tests.e2e.club_form import club_fixtures, signup
from tests.e2e.helpers import OrgApi, cli_json, emails_to, publish, wait_until

pytestmark = pytest.mark.e2e

club, api = club_fixtures("Molde Seilforening", "935000009")
NEWSLETTER = "Nytt fra seilforeningen"
LINK = re.compile(r"https?://[^\s\"<>]+/unsubscribe/[A-Za-z0-9_.\-]+")


@pytest.fixture
def notify(stack: Stack, club: dict[str, str]) -> Iterator[OrgApi]:
    org_api = OrgApi(stack, club["api_key"], "notify", notify_pb2_grpc.NotifyServiceStub)
    yield org_api
    org_api.close()


def granted(stack: Stack, org_id: str, member_id: str) -> list[str]:
    """The member's consents now, as membership holds them."""
    channel = grpc.insecure_channel(stack.grpc_addr("membership"))
    try:
        consents = membership_pb2_grpc.InternalDirectoryStub(channel).GetConsents(
            mpb.GetContactRequest(org_id=org_id, member_id=member_id),
            metadata=(("authorization", f"Bearer {stack.secrets['INTERNAL_TOKEN']}"),),
            timeout=10,
        )
        return sorted(consents.granted)
    finally:
        channel.close()


def http(
    url: str,
    data: bytes | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def newsletter(notify: OrgApi, *member_ids: str) -> npb.SendToMembersResponse:
    return notify(
        "SendToMembers",
        npb.SendToMembersRequest(
            member_ids=member_ids,
            purpose="newsletter",
            legal_basis="consent",
            channel="email",
            subject=NEWSLETTER,
            body="Hei {{ name }}!\n\nSesongen starter på lørdag.",
        ),
    )


def test_marketing_needs_consent_records_it_and_one_click_withdraws_it(
    stack: Stack, club: dict[str, str], api: OrgApi, notify: OrgApi
) -> None:
    org = club["org_id"]
    fan = api("RegisterMember", signup(email="seiler@example.no", phone="+4791000101"))
    quiet = api("RegisterMember", signup(email="stille@example.no", phone="+4791000102"))
    cli_json(stack, "consent", "grant", fan.member_id, "newsletter", "--org", org, "--json")

    sent = newsletter(notify, fan.member_id, quiet.member_id, "no-such-member")
    assert sent.message_class == "marketing" and sent.queued == 1
    assert dict(sent.not_queued) == {"no-consent": 1, "member-gone": 1}

    [mail] = wait_until(lambda: emails_to(stack, "seiler@example.no", NEWSLETTER), what="mail")
    text = " ".join(c["value"] for c in mail["content"])
    assert "Hei Ola Nordmann!" in text
    [link] = set(LINK.findall(text))
    assert emails_to(stack, "stille@example.no", NEWSLETTER) == []

    [logged] = [
        m
        for m in notify("ListMessages", npb.ListMessagesRequest(member_id=fan.member_id)).messages
        if m.message_class == "marketing"
    ]
    evidence = json.loads(logged.consent_evidence)
    assert (logged.purpose, logged.legal_basis) == ("newsletter", "consent")
    assert evidence["purpose"] == "newsletter" and evidence["granted"] is True
    assert evidence["source"] == "member" and evidence["at"]

    # A link opened (or prefetched by a scanner) shows a button and changes nothing.
    status, page = http(link)
    assert status == 200 and 'method="post"' in page
    # A forged or tampered token is refused and changes nothing.
    token = link.rsplit("/", 1)[1]
    forged = link[: -len(token)] + token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert http(forged, b"List-Unsubscribe=One-Click")[0] == 400
    assert http(link, b"something=else")[0] == 400  # not a one-click request
    # Declared multipart, but not: refused as not one-click (was a 500, found by fuzzing).
    not_multipart = "multipart/form-data; boundary=x"
    assert http(link, b"List-Unsubscribe=One-Click", not_multipart)[0] == 400
    assert granted(stack, org, fan.member_id) == ["newsletter"]

    # One click (RFC 8058): the consent is withdrawn in membership.
    assert http(link, b"List-Unsubscribe=One-Click")[0] == 200
    assert granted(stack, org, fan.member_id) == []
    again = newsletter(notify, fan.member_id)
    assert again.queued == 0 and dict(again.not_queued) == {"no-consent": 1}

    # Receipts are owed under the contract: they still come.
    receipt = billing_events.PaymentSucceeded(
        invoice_id="inv_e2e_1",
        member_id=fan.member_id,
        org_id=org,
        amount_ore=45_000,
        currency="NOK",
        invoice_number=77,
    )
    publish(
        stack,
        PAYMENT_SUCCEEDED,
        new_envelope("billing.payment-succeeded", receipt, org_id=org, subject_id=fan.member_id),
    )
    [paid] = wait_until(lambda: emails_to(stack, "seiler@example.no", "Kvittering"), what="receipt")
    assert "kr 450,00" in " ".join(c["value"] for c in paid["content"])


def test_templates_overrides_and_previews_through_the_api(
    stack: Stack, club: dict[str, str], api: OrgApi, notify: OrgApi
) -> None:
    kinds = {t.template: t for t in notify("ListTemplates", npb.ListTemplatesRequest()).templates}
    assert kinds["payment-receipt"].message_class == "transactional"
    assert "sms" in kinds["payment-reminder"].parts and "sms" not in kinds["welcome"].parts

    refused = notify.refused(
        "SetTemplateOverride",
        npb.SetTemplateOverrideRequest(
            template="welcome", language="nb", part="text", body="{{ name.__class__.__mro__ }}"
        ),
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT

    saved = notify(
        "SetTemplateOverride",
        npb.SetTemplateOverrideRequest(
            template="payment-reminder", language="nb", part="sms", body="Betal {{ amount }} 🙏"
        ),
    )
    assert saved.updated_at
    preview = notify(
        "PreviewTemplate", npb.PreviewTemplateRequest(template="payment-reminder", language="nb")
    )
    assert preview.sms == "Betal kr 450,00 🙏" and preview.sms_length.encoding == "ucs-2"
    assert preview.sms_length.segments == 1


def test_every_method_has_a_scope_and_a_read_only_key_reads_only(
    stack: Stack, club: dict[str, str], api: OrgApi
) -> None:
    service = npb.DESCRIPTOR.services_by_name["NotifyService"]
    assert {m.name for m in service.methods} == {
        path.removeprefix(API) for path in POLICY if path.startswith(API)
    }
    created = cli_json(stack, "key", "create", "--scope", "members:read", "--org", club["org_id"])
    reader = OrgApi(stack, created["api_key"], "notify", notify_pb2_grpc.NotifyServiceStub)
    try:
        member = api("RegisterMember", signup(email="leser@example.no", phone="+4791000103"))
        assert reader("ListMessages", npb.ListMessagesRequest(member_id=member.member_id))
        for method in ("SetTemplateOverride", "SendToMembers"):
            request = getattr(npb, service.methods_by_name[method].input_type.name)()
            assert reader.refused(method, request).code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        reader.close()


def signed_sendgrid_events(stack: Stack, events: list[dict[str, object]]) -> tuple[int, str]:
    """POSTs events to notify as SendGrid's Event Webhook would, signed with the stack's key."""
    body = json.dumps(events).encode()
    stamp = str(int(time.time()))
    key = serialization.load_der_private_key(
        base64.b64decode(stack.secrets["SENDGRID_WEBHOOK_PRIVATE_KEY"]), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    request = urllib.request.Request(
        f"{stack.http_url('notify')}/sendgrid/events",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_spam_report_withdraws_the_consent_in_membership(
    stack: Stack, club: dict[str, str], api: OrgApi, notify: OrgApi
) -> None:
    org = club["org_id"]
    member = api("RegisterMember", signup(email="klager@example.no", phone="+4791000104"))
    cli_json(stack, "consent", "grant", member.member_id, "newsletter", "--org", org, "--json")
    assert newsletter(notify, member.member_id).queued == 1
    wait_until(lambda: emails_to(stack, "klager@example.no", NEWSLETTER), what="the newsletter")
    [marketing] = [
        m
        for m in notify(
            "ListMessages", npb.ListMessagesRequest(member_id=member.member_id)
        ).messages
        if m.message_class == "marketing"
    ]
    report = {
        "email": "klager@example.no",
        "event": "spamreport",
        "sg_event_id": f"spam-{marketing.message_id}",
        "sg_message_id": f"sandbox-{marketing.message_id}",
        "message_id": marketing.message_id,  # our custom arg, at the event's top level
        "timestamp": int(time.time()),
    }

    # A forged delivery changes nothing.
    body = json.dumps([report]).encode()
    forged = urllib.request.Request(
        f"{stack.http_url('notify')}/sendgrid/events",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(b"x" * 64).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(int(time.time())),
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 403
    assert granted(stack, org, member.member_id) == ["newsletter"]

    assert signed_sendgrid_events(stack, [report])[0] == 200
    assert signed_sendgrid_events(stack, [report])[0] == 200  # SendGrid redelivers: no effect
    assert granted(stack, org, member.member_id) == []
    logged = {
        m.message_id: m
        for m in notify(
            "ListMessages", npb.ListMessagesRequest(member_id=member.member_id)
        ).messages
    }
    assert logged[marketing.message_id].status == "spam-reported"
