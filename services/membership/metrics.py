"""Membership's own metrics."""

from prometheus_client import Counter

ORGS_CREATED = Counter("membership_orgs_created_total", "Orgs created")
MEMBERS_REGISTERED = Counter("membership_members_registered_total", "Members registered")
REGISTRATIONS_REJECTED = Counter(
    "membership_registrations_rejected_total", "Sign-ups refused, by reason", ["reason"]
)
MEMBERS_ERASED = Counter("membership_members_erased_total", "Members erased")
