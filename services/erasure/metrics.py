"""The erasure service's own metrics (the mechanism metrics live in ServiceMetrics)."""

from prometheus_client import Counter

KEYS_CREATED = Counter("erasure_keys_created_total", "Data keys created")
KEYS_SHREDDED = Counter("erasure_keys_shredded_total", "Data keys shredded")
