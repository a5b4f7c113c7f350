"""Wires the dispatcher: the providers EMAIL_MODE and SMS_MODE name, the suppression key, the
policy from settings, and the runtime loop that runs it back to back (woken after every
consumer batch commits, else polling) and closes it when the service stops."""

from __future__ import annotations

from services.common.grpc.client import ServiceClient
from services.common.runtime import Runtime
from services.common.sealing import Sealer
from services.notify.adapters.email_sandbox import SandboxEmail, SandboxEmailSender
from services.notify.adapters.membership_directory import Directory
from services.notify.adapters.sendgrid_email import SendGridConfig, SendGridEmail, UnsubscribeUrl
from services.notify.adapters.sms_sandbox import SandboxSms
from services.notify.adapters.twilio_sms import TwilioConfig, TwilioSms
from services.notify.config import NotifySettings
from services.notify.domain.unsubscribe_links import UnsubscribeLinks
from services.notify.service_layer.dispatch import (
    Dispatcher,
    DispatchPolicy,
    EmailContact,
    EmailProvider,
    SmsProvider,
)


class DirectoryEmailContacts:
    """A member's email contact now, from membership (for an SMS's email fallback)."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    async def email_contact(self, org_id: str, member_id: str) -> EmailContact | None:
        contact = await self.directory.contact(org_id, member_id)
        if contact is None or not contact.email:
            return None
        return EmailContact(
            email=contact.email,
            name=contact.name,
            org_name=contact.org_name,
            language=contact.language,
        )


def email_provider(
    settings: NotifySettings, unsubscribe_url: UnsubscribeUrl | None = None
) -> EmailProvider:
    if settings.email_mode == "sandbox":
        return SandboxEmail(SandboxEmailSender(settings.sandbox_path, settings.from_email))
    if settings.email_mode == "sendgrid":
        key = settings.sendgrid_api_key.get_secret_value()
        if not key:
            raise SystemExit("EMAIL_MODE=sendgrid needs SENDGRID_API_KEY")
        return SendGridEmail(
            SendGridConfig(
                api_key=key,
                base_url=settings.sendgrid_base_url,
                from_email=settings.from_email,
                unsubscribe_group_id=settings.sendgrid_unsubscribe_group_id,
                requests_per_s=settings.sendgrid_requests_per_s,
                concurrency=settings.sendgrid_concurrency,
                timeout_s=settings.provider_timeout_s,
            ),
            unsubscribe_url,
        )
    raise SystemExit(f"EMAIL_MODE={settings.email_mode!r}: 'sandbox' or 'sendgrid'")


def sms_provider(settings: NotifySettings) -> SmsProvider:
    if settings.sms_mode == "sandbox":
        return SandboxSms(settings.sandbox_path, settings.twilio_from, settings.public_base_url)
    if settings.sms_mode == "twilio":
        token = settings.twilio_auth_token.get_secret_value()
        if not (settings.twilio_account_sid and token and settings.twilio_from):
            raise SystemExit("SMS_MODE=twilio needs TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM")
        return TwilioSms(
            TwilioConfig(
                account_sid=settings.twilio_account_sid,
                auth_token=token,
                from_number=settings.twilio_from,
                public_base_url=settings.public_base_url,
                base_url=settings.twilio_base_url,
                requests_per_s=settings.twilio_requests_per_s,
                timeout_s=settings.provider_timeout_s,
            )
        )
    raise SystemExit(f"SMS_MODE={settings.sms_mode!r}: 'sandbox' or 'twilio'")


def policy_of(settings: NotifySettings) -> DispatchPolicy:
    return DispatchPolicy(
        max_attempts=settings.dispatch_max_attempts,
        backoff_base_s=settings.dispatch_backoff_base_s,
        backoff_cap_s=settings.dispatch_backoff_cap_s,
        batch_size=settings.dispatch_batch_size,
        poll_s=settings.dispatch_poll_s,
    )


def add_dispatcher(
    runtime: Runtime,
    settings: NotifySettings,
    sealer: Sealer,
    membership: ServiceClient,
    unsubscribe_url: UnsubscribeUrl | None = None,
) -> Dispatcher:
    key = settings.suppression_key.get_secret_value()
    if not key:
        raise SystemExit("SUPPRESSION_KEY is required: it keys the suppression list's hashes")
    if unsubscribe_url is None and settings.unsubscribe_key.get_secret_value():
        unsubscribe_url = UnsubscribeLinks(
            settings.unsubscribe_key.get_secret_value(), settings.public_base_url
        ).unsubscribe_url
    dispatcher = Dispatcher(
        runtime.database,
        sealer,
        email_provider(settings, unsubscribe_url),
        sms_provider(settings),
        key.encode(),
        policy_of(settings),
        contacts=DirectoryEmailContacts(Directory(membership)),
        on_recorded=runtime.relay.wake,
    )
    runtime.on_commit(dispatcher.wake)
    runtime.every("notify.dispatch", 0.0, dispatcher.round)
    # After the loop is cancelled and awaited, before the database closes: the providers'
    # clients (SendGrid's threads, Twilio's HTTP session) end with the service.
    runtime.on_stop(dispatcher.close)
    return dispatcher
