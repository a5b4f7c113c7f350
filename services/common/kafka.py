"""How the services reach Kafka: the connection options every Kafka client is built with
(faust's app, the producer below, the topic provisioner), and the producer every service
shares: acks=all, no idempotence (the local broker has none), created inside the running loop
when the service starts."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from faust.auth import Credentials, SASLCredentials, SSLCredentials
from pydantic import SecretStr

from services.common.settings import ServiceSettings


@dataclass(frozen=True)
class KafkaConnection:
    """The brokers and how to log in to them (README, "Configuration": KAFKA_*)."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr = field(default_factory=lambda: SecretStr(""))
    ssl_cafile: Path | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KafkaConnection:
        return cls(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=settings.kafka_sasl_password,
            ssl_cafile=settings.kafka_ssl_cafile,
        )

    @classmethod
    def of(cls, broker: KafkaConnection | str) -> KafkaConnection:
        """A bare address is a broker without authentication (the local stack, tests)."""
        return broker if isinstance(broker, KafkaConnection) else cls(broker)

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        # Verifies the chain and the host name (Strimzi's broker certificates name both the
        # bootstrap service and every broker's address).
        cafile = str(self.ssl_cafile) if self.ssl_cafile is not None else None
        return ssl.create_default_context(cafile=cafile)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's and kafka-python's clients (the same names)."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.uses_sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password.get_secret_value()
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        return options

    @property
    def faust_broker(self) -> str:
        return f"kafka://{self.bootstrap_servers}"

    def faust_credentials(self) -> Credentials | None:
        """faust's `broker_credentials`: SASLCredentials turn SASL_SSL with an SSL context."""
        context = self.ssl_context()
        if self.uses_sasl:
            return SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password.get_secret_value(),
                ssl_context=context,
                mechanism=self.sasl_mechanism,
            )
        if context is not None:
            return SSLCredentials(context)
        return None


class Publisher:
    def __init__(self, broker: KafkaConnection | str, client_id: str) -> None:
        self.connection = KafkaConnection.of(broker)
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            **self.connection.client_options(),
            client_id=self.client_id,
            acks="all",
            enable_idempotence=False,
            linger_ms=2,
            request_timeout_ms=15000,
        )
        await self._producer.start()

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("publisher not started")
        return self._producer

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future:
        """Enqueue; the returned future resolves when the broker acknowledged."""
        return await self.producer.send(topic, value, key=key, headers=headers)

    async def send_and_wait(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        await self.producer.send_and_wait(topic, value, key=key, headers=headers)

    async def broker_reachable(self, timeout_s: float = 3.0) -> bool:
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout_s)
            return True
        except Exception:
            return False

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
