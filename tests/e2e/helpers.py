"""Driving the stack the way a user does: the CLI, gRPC, the broker's topics, the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc
from events.v1.envelope_pb2 import Envelope
from google.protobuf.message import Message
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from membership.v1 import membership_pb2_grpc
from typer.testing import CliRunner

from kontingent_cli.devstack import Stack, StackConfig
from kontingent_cli.main import app
from services.common.envelope import unpack
from services.common.outbox import outbox_row
from services.common.topics import TopicSpec
from tests.conftest import APP_ROLE

T = TypeVar("T")
M = TypeVar("M", bound=Message)
# The console script `make install` puts beside the interpreter.
KONTINGENT = str(Path(sys.executable).parent / "kontingent")


def cli(stack: Stack, *args: str, api_key: str | None = None) -> subprocess.CompletedProcess:
    """`kontingent *args` against the stack: the console script's own typer app, run in this
    process with the user's environment and output (a process per command spent half a
    second starting Python, a third of the suite). A crash is raised, not read as an exit
    code; test_slice runs the installed console script itself."""
    env = {**stack.cli_env(), "KONTINGENT_API_KEY": api_key}  # None: unset
    result = CliRunner().invoke(app, list(args), env=env, prog_name="kontingent")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(
        [KONTINGENT, *args], result.exit_code, result.stdout, result.stderr
    )


# Commands whose output is a JSON document anyway (they take no --json).
JSON_ONLY = (("member", "export"),)


def cli_json(stack: Stack, *args: str, api_key: str | None = None) -> Any:
    """A command's --json output, parsed; the command must succeed."""
    if "--json" not in args and tuple(args[:2]) not in JSON_ONLY:
        args = (*args, "--json")
    result = cli(stack, *args, api_key=api_key)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def erase(stack: Stack, org_id: str, member_id: str) -> dict[str, dict[str, Any]]:
    """`member erase` (a tracked request, waited for): its certificate's entries by target,
    the certificate verified."""
    certificate = cli_json(stack, "member", "erase", member_id, "--org", org_id)
    assert certificate["verified"], certificate["problems"]
    return {e["entry"]["target"]: e["entry"] for e in certificate["entries"]}


def create_org(stack: Stack, name: str, org_number: str) -> dict[str, str]:
    return dict(cli_json(stack, "org", "create", name, "--org-number", org_number, "--json"))


def register(
    stack: Stack, org: dict[str, str], name: str, email: str, phone: str
) -> dict[str, str]:
    """Sign a member up through the CLI with the org's saved key."""
    return dict(
        cli_json(
            stack,
            "member",
            "register",
            "--org",
            org["org_id"],
            "--name",
            name,
            "--email",
            email,
            "--phone",
            phone,
        )
    )


def wait_until(
    check: Callable[[], T | None], timeout_s: float = 30.0, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def export_once_invoiced(stack: Stack, org: dict[str, str], member_id: str) -> dict[str, Any]:
    """The member's export once billing has invoiced them: billing and notify consume the same
    event independently, so a welcome email does not mean the invoice is there yet."""

    def export() -> dict[str, Any] | None:
        document = cli_json(stack, "member", "export", member_id, "--org", org["org_id"])
        return document if document["stores"]["billing"]["invoices"] else None

    return wait_until(export, what=f"an invoice for {member_id}")


def sandbox_emails(stack: Stack) -> list[dict[str, Any]]:
    folder = stack.data_dir / "sandbox" / "email"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def emails_to(stack: Stack, address: str, subject: str = "") -> list[dict[str, Any]]:
    """The sandbox's emails to the address (whose subject contains `subject`, if given)."""
    return [
        mail
        for mail in sandbox_emails(stack)
        if any(to["email"] == address for p in mail["personalizations"] for to in p["to"])
        and subject in mail.get("subject", "")
    ]


def publish(stack: Stack, topic: TopicSpec, envelope: Envelope) -> None:
    """Put an event on a topic as another service's outbox relay would (same key and value)."""
    row = outbox_row(topic, envelope)
    producer = KafkaProducer(bootstrap_servers=stack.broker, acks="all")
    try:
        producer.send(str(row["topic"]), bytes(row["value"]), key=str(row["key"]).encode())
        producer.flush()
    finally:
        producer.close()


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of every partition of a topic, from the beginning."""
    return read_topics(bootstrap, [topic])


def read_topics(bootstrap: str, topics: list[str]) -> list[Any]:
    """Every record of every partition of the topics (those that exist), from the beginning:
    one consumer for all, so the wait for the end is paid once, not once per topic."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1500
    )
    try:
        assigned = [
            TopicPartition(topic, p)
            for topic in topics
            for p in consumer.partitions_for_topic(topic) or set()
        ]
        if not assigned:
            return []
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        return list(consumer)
    finally:
        consumer.close()


def database_bytes(stack: Stack) -> dict[str, bytes]:
    """Raw bytes of every service database: the SQLite files, or a pg_dump of each."""
    backend = getattr(stack, "backend", "sqlite")
    dumps: dict[str, bytes] = {}
    for service in ("membership", "billing", "notify", "erasure"):
        if backend == "sqlite":
            files = sorted(Path(stack.data_dir).glob(f"{service}.db*"))
            dumps[service] = b"".join(f.read_bytes() for f in files)
        else:
            # As the superuser, whom row-level security does not hide rows from.
            url = stack.config.database_urls[service].replace("+asyncpg", "")
            url = url.replace(f"{APP_ROLE}@", "postgres@")
            dumps[service] = subprocess.run(
                ["pg_dump", url], check=True, capture_output=True
            ).stdout
    return dumps


class OrgApi:
    """An org API over gRPC with one key (membership's unless told), for tests that check
    status codes and details."""

    def __init__(
        self,
        stack: Stack,
        api_key: str,
        service: str = "membership",
        stub: Callable[[grpc.Channel], Any] = membership_pb2_grpc.MembershipServiceStub,
    ) -> None:
        self.channel = grpc.insecure_channel(stack.grpc_addr(service))
        self.stub = stub(self.channel)
        self.metadata = (("authorization", f"Bearer {api_key}"),)

    def __call__(self, method: str, request: Any) -> Any:
        return getattr(self.stub, method)(request, metadata=self.metadata, timeout=10)

    def refused(self, method: str, request: Any) -> grpc.RpcError:
        """The error a call answers with; fails the test if it succeeds."""
        try:
            self(method, request)
        except grpc.RpcError as exc:
            return exc
        raise AssertionError(f"{method} succeeded")

    def close(self) -> None:
        self.channel.close()


@contextmanager
def private_stack(data_dir: Path) -> Iterator[Stack]:
    """A stack of a test's own (SQLite), for tests that stop, pause or restart its parts."""
    stack = Stack(StackConfig(data_dir=data_dir, random_ports=True, log_level="info"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def publish_form(stack: Stack, org_id: str, text: str, directory: Path) -> dict[str, Any]:
    """Publish a form written as YAML through the CLI; the published form."""
    path = directory / "form.yaml"
    path.write_text(text, encoding="utf-8")
    return dict(cli_json(stack, "form", "publish", str(path), "--org", org_id))


def events(stack: Stack, topic: TopicSpec, payload: type[M]) -> list[tuple[Envelope, M]]:
    """Every event on a topic so far, each with its payload (oldest first per partition)."""
    found = []
    for record in read_topic(stack.broker, topic.name):
        envelope = Envelope()
        envelope.ParseFromString(record.value)
        found.append((envelope, unpack(envelope, payload)))
    return found
