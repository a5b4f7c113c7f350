"""Notify's own metrics."""

from prometheus_client import Counter

from services.common.retention_sweep import SweepMetrics

MESSAGES_SKIPPED = Counter(
    "notify_messages_skipped_total", "Messages not sent, by reason", ["template", "reason"]
)
MESSAGES_QUEUED = Counter(
    "notify_messages_queued_total",
    "Messages rendered, sealed and written to the log for the dispatcher",
    ["template", "channel", "message_class"],
)
UNSUBSCRIBES = Counter("notify_unsubscribes_total", "Unsubscribe requests, by outcome", ["outcome"])
DELIVERY_EVENTS = Counter(
    "notify_delivery_events_total",
    "Delivery events from the providers' webhooks, by what became of them",
    ["provider", "event", "outcome"],
)
WEBHOOKS_REJECTED = Counter(
    "notify_webhooks_rejected_total",
    "Webhook requests refused (nothing changed), by route and reason",
    ["route", "reason"],
)

# Providers and the dispatcher.
from prometheus_client import Histogram  # noqa: E402

PROVIDER_REQUESTS = Counter(
    "notify_provider_requests_total",
    "Calls to an email or SMS provider, by outcome",
    ["provider", "outcome"],
)
PROVIDER_REQUEST_DURATION = Histogram(
    "notify_provider_request_duration_seconds",
    "Duration of calls to an email or SMS provider (rate-limit wait excluded)",
    ["provider"],
)
MESSAGES_DISPATCHED = Counter(
    "notify_messages_dispatched_total",
    "Dispatch attempts on queued messages, by channel and outcome",
    ["channel", "outcome"],
)
# The retention sweep under each org's profile (services/common/retention_sweep.py).
RETENTION = SweepMetrics("notify")
# Notices to orgs (service_layer/org_notices.py): sent, failed, no-address (no contact email),
# sending (tried again next round).
ORG_NOTICES = Counter(
    "notify_org_notices_total",
    "Notices to orgs' contacts, by kind and outcome",
    ["kind", "outcome"],
)
