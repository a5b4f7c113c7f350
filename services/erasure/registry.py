"""The erasure targets, in one place: adding a store or a sub-processor is one adapter and one
line here. `after` orders them: sub-processors after the store that lists their records; the
key shredding is added last by the registry itself. A sub-processor's target names it as the
recipient it tells (GDPR art. 19), under its name in subprocessors.yaml."""

from __future__ import annotations

from services.common.db.engine import Database
from services.common.grpc.client import ServiceClient
from services.erasure.adapters.targets.data_subject_store import DataSubjectStoreTarget
from services.erasure.adapters.targets.erasure_confirmation import ErasureConfirmationTarget
from services.erasure.adapters.targets.sendgrid_recipient import SendGridRecipientTarget
from services.erasure.adapters.targets.stripe_customer import StripeCustomerTarget
from services.erasure.adapters.targets.twilio_messages import TwilioMessagesTarget
from services.erasure.service_layer.key_shredding import KeyShredding
from services.erasure.service_layer.targets import Recipient, Target, TargetRegistry
from services.erasure.subprocessors import SubprocessorRegistry, load_subprocessors

# How each sub-processor is told, i.e. the deletion call its API accepts.
TOLD_BY = {
    "stripe": "billing's DELETE /v1/customers/{id} (the Stripe customer)",
    "sendgrid": "an erase job, POST /v3/recipients/erasejob",
    "twilio": "DELETE of each message by its SID",
}


def erasure_targets(
    stores: dict[str, ServiceClient],
    sendgrid: SendGridRecipientTarget,
    twilio: TwilioMessagesTarget,
    key_shredding: KeyShredding,
    ledger: Database,
    subprocessors: SubprocessorRegistry | None = None,
) -> TargetRegistry:
    """`ledger`: the erasure database, where the stores' tombstones are recorded."""
    names = {
        s.erasure_target: s.name for s in (subprocessors or load_subprocessors()).subprocessors
    }

    def told(target: str) -> Recipient:
        return Recipient(names[target], TOLD_BY[target])

    return TargetRegistry(
        [
            # First: notify fetches the address from membership when it queues the email,
            # and its own Erase deletes the member's messages.
            Target("confirmation", ErasureConfirmationTarget(stores["notify"])),
            Target(
                "membership",
                DataSubjectStoreTarget(stores["membership"], ledger),
                ("confirmation",),
            ),
            Target("billing", DataSubjectStoreTarget(stores["billing"], ledger)),
            Target("notify", DataSubjectStoreTarget(stores["notify"], ledger), ("confirmation",)),
            Target("stripe", StripeCustomerTarget(), ("billing",), told("stripe")),
            Target("sendgrid", sendgrid, ("notify",), told("sendgrid")),
            Target("twilio", twilio, ("notify",), told("twilio")),
        ],
        key_shredding,
    )
