"""Notify's own metrics."""

from prometheus_client import Counter

MESSAGES_RECORDED = Counter(
    "notify_messages_recorded_total",
    "Messages rendered and handed to a provider",
    ["template", "channel"],
)
MESSAGES_SKIPPED = Counter(
    "notify_messages_skipped_total", "Messages not sent, by reason", ["template", "reason"]
)
