from __future__ import annotations

import base64

from pydantic import SecretStr, field_validator

from services.common.settings import ServiceSettings


class ErasureSettings(ServiceSettings):
    service_name = "erasure"
    default_grpc_port = 50054
    default_http_port = 8084

    # Key-encryption key (base64, 32 bytes). A KMS holds it in production.
    kek: SecretStr

    @field_validator("kek")
    @classmethod
    def _kek_is_256_bits(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except ValueError as exc:
            raise ValueError("KEK must be base64") from exc
        if len(raw) != 32:
            raise ValueError("KEK must decode to 32 bytes")
        return value

    @property
    def kek_bytes(self) -> bytes:
        return base64.b64decode(self.kek.get_secret_value())
