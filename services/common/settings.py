"""Typed settings read from the environment; every service subclasses ServiceSettings."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service needs. Defaults suit the local stack; secrets have none."""

    # Errors never echo the input: it holds the secrets.
    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    service_name: ClassVar[str]
    default_grpc_port: ClassVar[int]
    default_http_port: ClassVar[int]

    data_dir: Path = Path("data")
    database_url: str = ""
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # PLAINTEXT suits the local broker; a secured cluster (deploy/k8s: Strimzi) wants SASL_SSL
    # with the service's KafkaUser and the cluster CA. services/common/kafka.py applies these
    # to every Kafka client.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    # PEM bundle the broker's certificate must chain to; none means the system's CAs.
    kafka_ssl_cafile: Path | None = None
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    http_host: str = "127.0.0.1"
    http_port: int = 0
    internal_token: SecretStr
    keyring_addr: str = "127.0.0.1:50054"
    membership_addr: str = "127.0.0.1:50051"
    # The local broker waits half the session timeout before a group join completes.
    consumer_session_timeout_s: float = 6.0
    consumer_max_attempts: int = 5
    key_cache_ttl_s: float = 60.0
    rpc_deadline_s: float = 5.0
    shutdown_grace_s: float = 5.0
    log_level: str = "info"
    # Added to the process's niceness at start (0-19): the local stack runs the consumer-heavy
    # services (billing, notify) at a lower CPU priority than the APIs, as if on cores of
    # their own; in production each service has its own pod and this stays 0.
    cpu_nice: int = Field(default=0, ge=0, le=19)

    @model_validator(mode="after")
    def _kafka_security(self) -> ServiceSettings:
        # Refused at start: a half-configured client would only fail later, as an opaque
        # authentication or handshake error from inside the Kafka library.
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL_"):
            missing = [
                name
                for name, value in (
                    ("KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                    ("KAFKA_SASL_PASSWORD", self.kafka_sasl_password.get_secret_value()),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"KAFKA_SECURITY_PROTOCOL={protocol} needs {' and '.join(missing)}"
                )
        elif self.kafka_sasl_username or self.kafka_sasl_password.get_secret_value():
            raise ValueError(
                f"KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD are set but "
                f"KAFKA_SECURITY_PROTOCOL={protocol} does not use SASL"
            )
        if self.kafka_ssl_cafile is not None:
            if not protocol.endswith("SSL"):
                raise ValueError(
                    f"KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL={protocol} "
                    "does not use TLS"
                )
            if not self.kafka_ssl_cafile.is_file():
                raise ValueError(f"KAFKA_SSL_CAFILE: no such file: {self.kafka_ssl_cafile}")
        return self

    @model_validator(mode="after")
    def _defaults(self) -> ServiceSettings:
        updates: dict[str, object] = {}
        if not self.database_url:
            updates["database_url"] = f"sqlite+aiosqlite:///{self.data_dir}/{self.service_name}.db"
        elif self.database_url.startswith(("postgresql://", "postgres://")):
            _, rest = self.database_url.split("://", 1)
            updates["database_url"] = f"postgresql+asyncpg://{rest}"
        if not self.grpc_port:
            updates["grpc_port"] = self.default_grpc_port
        if not self.http_port:
            updates["http_port"] = self.default_http_port
        for name, value in updates.items():
            object.__setattr__(self, name, value)
        return self

    @property
    def grpc_addr(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"
