"""Which event sends which message, and the values each template gets from its event.

Erasure-confirmed comes from no event: the erasure pipeline asks for it over gRPC, before
any store forgets the member (service_layer/erasure_confirmation.py); its values are here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billing.v1 import events_pb2 as billing_events
from events.v1.envelope_pb2 import Envelope
from membership.v1 import events_pb2 as membership_events
from privacy.v1 import events_pb2 as privacy_events

from services.common.clock import OSLO
from services.common.topics import (
    EXPORT_READY,
    INVOICE_ISSUED,
    MEMBER_REGISTERED,
    MEMBER_STATUS_CHANGED,
    PAYMENT_SUCCEEDED,
    PRIVACY_LINK_REQUESTED,
    RECONSENT_REQUESTED,
    REMINDER_DUE,
)
from services.notify.adapters.membership_directory import Directory
from services.notify.domain.content import day, money
from services.notify.service_layer.event_messages import MessageOnEvent
from services.notify.service_layer.queueing import Values

LAPSED = "lapsed"
POLICY_KIND = {
    "nb": {"privacy": "personvernerklæringen", "terms": "vilkårene"},
    "en": {"privacy": "privacy policy", "terms": "terms"},
}


def _invoice_values(
    payload: billing_events.InvoiceIssued | billing_events.ReminderDue, pay_url: str
) -> Values:
    def values(language: str) -> Mapping[str, Any]:
        return {
            "amount": money(payload.amount_ore, payload.currency or "NOK", language),
            "due_date": day(payload.due_date, language),
            "kid": payload.kid,
            "pay_url": pay_url,
        }

    return values


def messages_on_events(pay_url_template: str, reconsent_url_template: str) -> list[MessageOnEvent]:
    def pay_url(invoice_id: str) -> str:
        return pay_url_template.format(invoice_id=invoice_id)

    def invoice(p: billing_events.InvoiceIssued, e: Envelope) -> Values:
        base = _invoice_values(p, pay_url(p.invoice_id))
        return lambda lang: {**base(lang), "invoice_number": str(p.invoice_number)}  # type: ignore[operator]

    def reminder(p: billing_events.ReminderDue, e: Envelope) -> Values:
        base = _invoice_values(p, pay_url(p.invoice_id))
        return lambda lang: {**base(lang), "reminder_number": str(p.reminder_number)}  # type: ignore[operator]

    def receipt(p: billing_events.PaymentSucceeded, e: Envelope) -> Values:
        return lambda lang: {
            "amount": money(p.amount_ore, p.currency or "NOK", lang),
            "invoice_number": str(p.invoice_number),
        }

    def lapsed(p: membership_events.MemberStatusChanged, e: Envelope) -> Values:
        return lambda lang: {"period_end": day(p.period_end, lang) if p.period_end else ""}

    def policy(p: membership_events.ReconsentRequested, e: Envelope) -> Values:
        url = reconsent_url_template.format(org_id=e.org_id or p.org_id)
        return lambda lang: {
            "policy_kind": POLICY_KIND[lang].get(p.kind, p.kind),
            "policy_version": str(p.version),
            "reconsent_url": url,
        }

    def export_ready(p: privacy_events.ExportReady, e: Envelope) -> Values:
        # The day the link stops working, as the member's calendar shows it.
        expires_on = p.expires_at.ToDatetime(tzinfo=OSLO).date().isoformat()
        return export_ready_values(p.download_url, expires_on)

    return [
        MessageOnEvent(
            "notify.member-registered",
            MEMBER_REGISTERED,
            "welcome",
            membership_events.MemberRegistered,
        ),
        MessageOnEvent(
            "notify.invoice-issued",
            INVOICE_ISSUED,
            "invoice-issued",
            billing_events.InvoiceIssued,
            invoice,
        ),
        MessageOnEvent(
            "notify.payment-succeeded",
            PAYMENT_SUCCEEDED,
            "payment-receipt",
            billing_events.PaymentSucceeded,
            receipt,
        ),
        MessageOnEvent(
            "notify.reminder-due",
            REMINDER_DUE,
            "payment-reminder",
            billing_events.ReminderDue,
            reminder,
        ),
        MessageOnEvent(
            "notify.member-status-changed",
            MEMBER_STATUS_CHANGED,
            "membership-lapsed",
            membership_events.MemberStatusChanged,
            lapsed,
            wanted=lambda p: p.new_status == LAPSED,
        ),
        MessageOnEvent(
            "notify.reconsent-requested",
            RECONSENT_REQUESTED,
            "policy-changed",
            membership_events.ReconsentRequested,
            policy,
        ),
        MessageOnEvent(
            "notify.export-ready",
            EXPORT_READY,
            "export-ready",
            privacy_events.ExportReady,
            export_ready,
            prefetch=False,  # one member's archive at a time
        ),
        MessageOnEvent(
            "notify.privacy-link-requested",
            PRIVACY_LINK_REQUESTED,
            "privacy-link",
            membership_events.PrivacyLinkRequested,
            prefetch=False,  # one member asking at a time
            fetch_values=privacy_link_values,
        ),
    ]


async def privacy_link_values(
    directory: Directory, p: membership_events.PrivacyLinkRequested, e: Envelope
) -> Values | None:
    """The signed link, asked of membership now: it never travels on a topic, and a member
    erased since gets nothing."""
    link = await directory.privacy_link(e.org_id or p.org_id, p.member_id)
    if link is None:
        return None
    expires = link.expires_at.ToDatetime(tzinfo=OSLO)
    return lambda lang: {
        "privacy_url": link.url,
        "expires_at": f"{day(expires.date().isoformat(), lang)}"
        + (f" kl. {expires:%H:%M}" if lang == "nb" else f", {expires:%H:%M}"),
    }


def export_ready_values(download_url: str, expires_on: str) -> Values:
    """The download link and the day it stops working."""
    return lambda lang: {"download_url": download_url, "expires_at": day(expires_on, lang)}


def erasure_confirmed_values(request_id: str, completed_on: str) -> Values:
    """The request and the day the erasure is carried out (the message is queued as it
    starts, while membership still knows the member's address)."""
    return lambda lang: {"request_id": request_id, "completed_at": day(completed_on, lang)}
