from __future__ import annotations

from pydantic import SecretStr

from services.common.settings import ServiceSettings


class MembershipSettings(ServiceSettings):
    service_name = "membership"
    default_grpc_port = 50051
    default_http_port = 8081

    # Platform operator's token for CreateOrg; org keys are minted per org.
    admin_token: SecretStr
    # Key of the blind index that finds "this email is already a member of this org".
    blind_index_key: SecretStr
    default_language: str = "nb"
    # How often the lifecycle sweep moves expired members to grace and lapsed.
    status_sweep_interval_s: float = 300.0
