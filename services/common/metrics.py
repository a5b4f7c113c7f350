"""The mechanism metrics every service exports, named `<service>_<thing>_<unit>[_total]`.

A closed set: code asks for `metrics.consumer_messages`, never for a metric by string name.
Labels never carry org, member or address values.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import REGISTRY

        self.service = service
        self.registry = registry or REGISTRY
        p = service
        r = self.registry
        self.grpc_requests = Counter(
            f"{p}_grpc_requests_total", "gRPC requests handled", ["method", "code"], registry=r
        )
        self.grpc_duration = Histogram(
            f"{p}_grpc_request_duration_seconds",
            "gRPC request latency",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            f"{p}_http_requests_total", "HTTP requests handled", ["route", "status"], registry=r
        )
        self.http_duration = Histogram(
            f"{p}_http_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_messages = Counter(
            f"{p}_consumer_messages_total",
            "Messages a consumer finished, by outcome",
            ["consumer", "outcome"],
            registry=r,
        )
        self.consumer_duration = Histogram(
            f"{p}_consumer_processing_duration_seconds",
            "Time to process one message",
            ["consumer"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            f"{p}_consumer_lag_messages",
            "Messages on assigned partitions not yet fetched",
            ["topic"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            f"{p}_outbox_backlog_events", "Outbox rows not yet published", registry=r
        )
        self.outbox_published = Counter(
            f"{p}_outbox_published_events_total", "Outbox rows published to Kafka", registry=r
        )
        self.outbox_publish_failures = Counter(
            f"{p}_outbox_publish_failures_total", "Relay batches that failed to publish", registry=r
        )
        self.ready = Gauge(
            f"{p}_ready", "1 when the database and the broker are reachable", registry=r
        )
        self.outbound_calls = Counter(
            f"{p}_outbound_calls_total",
            "Calls to other services and providers",
            ["target", "outcome"],
            registry=r,
        )
