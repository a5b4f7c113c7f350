"""The erasure targets, in one place: adding a store or a sub-processor is one adapter and one
line here. `after` orders them: sub-processors after the store that lists their records; the
key shredding is added last by the registry itself."""

from __future__ import annotations

from services.common.grpc.client import ServiceClient
from services.erasure.adapters.targets.data_subject_store import DataSubjectStoreTarget
from services.erasure.adapters.targets.sendgrid_recipient import SendGridRecipientTarget
from services.erasure.adapters.targets.stripe_customer import StripeCustomerTarget
from services.erasure.adapters.targets.twilio_messages import TwilioMessagesTarget
from services.erasure.service_layer.key_shredding import KeyShredding
from services.erasure.service_layer.targets import Target, TargetRegistry


def erasure_targets(
    stores: dict[str, ServiceClient],
    sendgrid: SendGridRecipientTarget,
    twilio: TwilioMessagesTarget,
    key_shredding: KeyShredding,
) -> TargetRegistry:
    return TargetRegistry(
        [
            Target("membership", DataSubjectStoreTarget(stores["membership"])),
            Target("billing", DataSubjectStoreTarget(stores["billing"])),
            Target("notify", DataSubjectStoreTarget(stores["notify"])),
            Target("stripe", StripeCustomerTarget(), after=("billing",)),
            Target("sendgrid", sendgrid, after=("notify",)),
            Target("twilio", twilio, after=("notify",)),
        ],
        key_shredding,
    )
