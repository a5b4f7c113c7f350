"""Membership's own metrics."""

from prometheus_client import Counter

from services.common.retention_sweep import SweepMetrics

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
PRIVACY_LINKS_REQUESTED = Counter(
    "membership_privacy_links_requested_total",
    "Privacy page links asked for on the form, by outcome (sent, rate-limited, no-member)",
    ["outcome"],
)
PRIVACY_PAGE_ACTIONS = Counter(
    "membership_privacy_page_actions_total",
    "Members' actions on their privacy page, by action (edit, download, erasure) and outcome",
    ["action", "outcome"],
)
# The retention sweep under each org's profile (services/common/retention_sweep.py).
RETENTION = SweepMetrics("membership")
