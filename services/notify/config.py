from __future__ import annotations

from pathlib import Path

from services.common.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    service_name = "notify"
    default_grpc_port = 50053
    default_http_port = 8083

    # "sandbox" records each would-be email as a file; real SendGrid arrives with the
    # notify issue.
    email_mode: str = "sandbox"
    sandbox_dir: Path | None = None
    from_email: str = "no-reply@kontingent.local"

    @property
    def sandbox_path(self) -> Path:
        return self.sandbox_dir or self.data_dir / "sandbox"
