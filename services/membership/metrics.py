"""Membership's own metrics."""

from prometheus_client import Counter

ORGS_CREATED = Counter("membership_orgs_created_total", "Orgs created")
MEMBERS_REGISTERED = Counter("membership_members_registered_total", "Members registered")
REGISTRATIONS_REJECTED = Counter(
    "membership_registrations_rejected_total", "Sign-ups refused, by reason", ["reason"]
)
MEMBERS_ERASED = Counter("membership_members_erased_total", "Members erased")
FORMS_PUBLISHED = Counter(
    "membership_forms_published_total", "Registration form versions published"
)
POLICIES_PUBLISHED = Counter(
    "membership_policies_published_total",
    "Policy versions published, by kind",
    ["kind", "material"],
)
CONSENT_CHANGES = Counter(
    "membership_consent_changes_total",
    "Consents granted or withdrawn, by source",
    ["change", "source"],
)
STATUS_CHANGES = Counter(
    "membership_status_changes_total",
    "Membership status changes and renewals, by reason and new status",
    ["reason", "status"],
)
