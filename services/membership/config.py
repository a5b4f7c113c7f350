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
    # How often the retention sweep enforces each org's profile.
    retention_interval_s: float = 3600.0
    # The member's privacy page (PUBLIC_BASE_URL/privacy/{org_id}): its emailed links are
    # signed with PRIVACY_LINK_KEY and work for PRIVACY_LINK_TTL_S; a member is sent at most
    # one link per PRIVACY_LINK_RESEND_S.
    privacy_link_key: SecretStr = SecretStr("")
    privacy_link_ttl_s: int = 24 * 3600
    privacy_link_resend_s: float = 600.0
    public_base_url: str = "http://127.0.0.1:8081"
