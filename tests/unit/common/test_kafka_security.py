"""KAFKA_* settings: incomplete ones are refused at start, and every Kafka client the services
create (faust's app, the shared producer, the topic provisioner) logs in with them."""

from __future__ import annotations

import ast
import asyncio
import ssl
from pathlib import Path
from typing import Any, ClassVar

import certifi
import pytest
from faust.auth import SASLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from services.common import kafka as common_kafka
from services.common import topics as common_topics
from services.common.kafka import KafkaConnection, Publisher
from services.common.runtime import Runtime
from services.common.settings import ServiceSettings
from services.common.topics import TopicSpec, provision

ROOT = Path(__file__).resolve().parents[3]
# A real PEM bundle stands in for the cluster CA (Strimzi's `ca.crt`).
CA = Path(certifi.where())
KAFKA_CLIENTS = {
    "AIOKafkaProducer",
    "AIOKafkaConsumer",
    "AIOKafkaClient",
    "KafkaProducer",
    "KafkaConsumer",
    "KafkaAdminClient",
    "KafkaClient",
}


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "probe"
    default_grpc_port: ClassVar[int] = 50099
    default_http_port: ClassVar[int] = 8099


def settings(tmp_path: Path, **env: Any) -> Settings:
    return Settings(internal_token="t", data_dir=tmp_path, **env)


def sasl_ssl(tmp_path: Path) -> Settings:
    return settings(
        tmp_path,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="billing",
        kafka_sasl_password="s3cret",
        kafka_ssl_cafile=CA,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "billing"},
            "needs KAFKA_SASL_PASSWORD",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_password": "s3cret"},
            "needs KAFKA_SASL_USERNAME",
        ),
        ({"kafka_sasl_username": "billing", "kafka_sasl_password": "s3cret"}, "does not use SASL"),
        ({"kafka_ssl_cafile": CA}, "KAFKA_SSL_CAFILE is set"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nonexistent/ca.crt"},
            "KAFKA_SSL_CAFILE: no such file",
        ),
        ({"kafka_security_protocol": "SASL_SCRAM"}, "kafka_security_protocol"),
    ],
)
def test_incomplete_kafka_security_is_refused_naming_the_setting(
    tmp_path: Path, env: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(tmp_path, **env)
    assert named in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_plaintext_by_default_with_no_login(tmp_path: Path) -> None:
    connection = KafkaConnection.from_settings(settings(tmp_path))
    assert connection.client_options() == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert connection.faust_credentials() is None


def test_sasl_ssl_logs_in_with_scram_and_verifies_the_cluster_ca(tmp_path: Path) -> None:
    connection = KafkaConnection.from_settings(sasl_ssl(tmp_path))
    options = connection.client_options()
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "billing",
        "sasl_plain_password": "s3cret",
    }
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs()  # the CA file was loaded
    assert "s3cret" not in repr(connection)


def test_sasl_plaintext_and_ssl_alone(tmp_path: Path) -> None:
    plain = KafkaConnection.from_settings(
        settings(
            tmp_path,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-256",
            kafka_sasl_username="u",
            kafka_sasl_password="p",
        )
    ).client_options()
    assert plain["security_protocol"] == "SASL_PLAINTEXT"
    assert plain["sasl_mechanism"] == "SCRAM-SHA-256" and "ssl_context" not in plain
    tls = KafkaConnection.from_settings(
        settings(tmp_path, kafka_security_protocol="SSL", kafka_ssl_cafile=CA)
    ).client_options()
    assert tls["security_protocol"] == "SSL" and "sasl_mechanism" not in tls
    assert isinstance(tls["ssl_context"], ssl.SSLContext)


@pytest.mark.parametrize(
    "env",
    [
        {"kafka_security_protocol": "SASL_SSL", "kafka_ssl_cafile": CA},
        {"kafka_security_protocol": "SASL_PLAINTEXT"},
        {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": CA},
    ],
)
def test_faust_gets_the_same_login_as_the_other_clients(
    tmp_path: Path, env: dict[str, Any]
) -> None:
    if env["kafka_security_protocol"].startswith("SASL"):
        env = {**env, "kafka_sasl_username": "notify", "kafka_sasl_password": "pw"}
    connection = KafkaConnection.from_settings(settings(tmp_path, **env))
    # What faust's consumer and producer hand to aiokafka.
    through_faust = dict(credentials_to_aiokafka_auth(connection.faust_credentials()))
    ours = connection.client_options()
    del ours["bootstrap_servers"]
    assert isinstance(through_faust.pop("ssl_context", None), type(ours.pop("ssl_context", None)))
    assert through_faust == ours


def test_runtime_builds_faust_producer_and_provisioner_with_the_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Runtime(sasl_ssl(tmp_path), tmp_path)
    credentials = runtime.app.conf.broker_credentials
    assert isinstance(credentials, SASLCredentials)
    assert (credentials.username, credentials.password) == ("billing", "s3cret")
    assert credentials.protocol.value == "SASL_SSL"

    built: list[tuple[str, dict[str, Any]]] = []

    class FakeProducer:
        def __init__(self, **kwargs: Any) -> None:
            built.append(("producer", kwargs))

        async def start(self) -> None:
            pass

    class FakeAdmin:
        def __init__(self, **kwargs: Any) -> None:
            built.append(("admin", kwargs))

        def list_topics(self) -> list[str]:
            return ["t.v1", "t.v1.retry", "t.v1.dlq"]

        def close(self) -> None:
            pass

    monkeypatch.setattr(common_kafka, "AIOKafkaProducer", FakeProducer)
    monkeypatch.setattr(common_topics, "KafkaAdminClient", FakeAdmin)
    asyncio.run(runtime.publisher.start())
    provision(runtime.kafka, (TopicSpec("t.v1"),))
    assert [kind for kind, _ in built] == ["producer", "admin"]
    for _, kwargs in built:
        assert kwargs["security_protocol"] == "SASL_SSL"
        assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
        assert kwargs["sasl_plain_username"] == "billing"
        assert kwargs["sasl_plain_password"] == "s3cret"
        assert kwargs["ssl_context"].get_ca_certs()


def test_a_bare_address_is_the_unauthenticated_local_broker() -> None:
    assert Publisher("127.0.0.1:9092", "c").connection == KafkaConnection("127.0.0.1:9092")


def test_no_kafka_client_is_built_without_the_connection_options() -> None:
    """A Kafka client built anywhere else, or without `**...client_options()`, would connect
    without the login: only the two builders tested above may construct one."""
    found: set[tuple[str, str]] = set()
    apps_without_credentials: list[str] = []
    for path in sorted(
        [*(ROOT / "services").rglob("*.py"), *(ROOT / "kontingent_cli").rglob("*.py")]
    ):
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            keywords = {kw.arg for kw in node.keywords}
            if name in KAFKA_CLIENTS:
                found.add((rel, name))
                assert None in keywords, f"{rel}:{node.lineno}: {name} without **client_options()"
            if name == "App" and "broker_credentials" not in keywords:
                apps_without_credentials.append(f"{rel}:{node.lineno}")
    assert found == {
        ("services/common/kafka.py", "AIOKafkaProducer"),
        ("services/common/topics.py", "KafkaAdminClient"),
    }, "build Kafka clients with KafkaConnection.client_options() (services/common/kafka.py)"
    assert not apps_without_credentials, (
        f"faust.App without broker_credentials: {apps_without_credentials}"
    )
