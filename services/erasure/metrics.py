"""The erasure service's own metrics (the mechanism metrics live in ServiceMetrics). Labels
name request types and targets only: no org, member or address."""

from prometheus_client import Counter, Gauge, Histogram

KEYS_CREATED = Counter("erasure_keys_created_total", "Data keys created")
KEYS_SHREDDED = Counter("erasure_keys_shredded_total", "Data keys shredded")

REQUESTS_OPEN = Gauge("erasure_requests_open", "Open data-subject requests", ["type"])
OLDEST_OPEN_REQUEST_AGE = Gauge(
    "erasure_oldest_open_request_age_seconds", "Age of the oldest open data-subject request"
)
REQUESTS_AT_RISK = Gauge(
    "erasure_requests_at_risk", "Open requests due within 7 days (overdue ones included)"
)
REQUESTS_OVERDUE = Gauge("erasure_requests_overdue", "Open requests past their due date")
REQUESTS_COMPLETED = Counter(
    "erasure_requests_completed_total", "Requests completed, by type", ["type"]
)
TARGET_ATTEMPTS = Counter(
    "erasure_target_attempts_total",
    "Calls to erasure targets, by outcome: done, awaiting (accepted, confirmation polled "
    "later) or failed (retried)",
    ["target", "outcome"],
)
TARGETS_STUCK = Gauge(
    "erasure_targets_stuck",
    "Erasure tasks not done after 5 or more failed attempts: their requests stay open",
    ["target"],
)

REPLAY_RUNS = Counter(
    "erasure_ledger_replays_total", "Erasure ledger replays, by outcome", ["outcome"]
)
REPLAY_DURATION = Histogram(
    "erasure_ledger_replay_duration_seconds",
    "How long one erasure ledger replay took",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 1800),
)
REPLAY_SUBJECTS = Counter(
    "erasure_ledger_replay_subjects_total",
    "Ledger subjects a replay found in a store: erased again, or already gone",
    ["store", "outcome"],
)
REPLAY_KEYS_RESHREDDED = Counter(
    "erasure_ledger_replay_keys_reshredded_total",
    "Data keys a replay found live again and shredded",
)
REPLAY_TOMBSTONES_RESTORED = Counter(
    "erasure_ledger_replay_tombstones_restored_total",
    "Erased addresses' tombstones a restored membership had lost, handed back by a replay",
)
EXPORT_DOWNLOADS = Counter(
    "erasure_export_downloads_total",
    "GETs of export links, by outcome (downloaded, gone, not_found)",
    ["outcome"],
)
EXPORTS_SWEPT = Counter(
    "erasure_exports_swept_total", "Export archives emptied because their link expired unused"
)
