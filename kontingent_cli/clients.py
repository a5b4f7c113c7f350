"""Where the CLI finds the services and which credential it presents."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import grpc

DEFAULT_ADDRS = {
    "membership": "127.0.0.1:50051",
    "billing": "127.0.0.1:50052",
    "notify": "127.0.0.1:50053",
    "erasure": "127.0.0.1:50054",
}
DEADLINE_S = 10.0


def address(service: str) -> str:
    return os.environ.get(f"KONTINGENT_{service.upper()}_ADDR", DEFAULT_ADDRS[service])


def home() -> Path:
    return Path(os.environ.get("KONTINGENT_HOME", Path.home() / ".config" / "kontingent"))


def admin_token() -> str:
    token = os.environ.get("KONTINGENT_ADMIN_TOKEN")
    if token:
        return token
    local = Path(os.environ.get("KONTINGENT_DATA_DIR", "data")) / "secrets.json"
    if local.exists():  # the local stack's token, for `make run` users
        return str(json.loads(local.read_text())["ADMIN_TOKEN"])
    raise LookupError("set KONTINGENT_ADMIN_TOKEN (the platform admin token)")


class Credentials:
    """API keys the CLI was shown at `org create`, kept per org in a 0600 file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or home() / "credentials.json"

    def _load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def save(self, org_id: str, api_key: str) -> None:
        keys = self._load() | {org_id: api_key}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(keys, out)

    def api_key(self, org_id: str | None, explicit: str | None) -> str:
        if explicit:
            return explicit
        keys = self._load()
        if org_id and org_id in keys:
            return keys[org_id]
        if not org_id and len(keys) == 1:
            return next(iter(keys.values()))
        raise LookupError(
            f"no API key for org {org_id or '(none given)'}: pass --api-key, "
            "set KONTINGENT_API_KEY, or create the org with this CLI"
        )


@dataclass
class Session:
    token: str

    def channel(self, service: str) -> grpc.Channel:
        return grpc.insecure_channel(address(service))

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    def call(self, method, request):  # type: ignore[no-untyped-def]
        return method(request, timeout=DEADLINE_S, metadata=self.metadata)
