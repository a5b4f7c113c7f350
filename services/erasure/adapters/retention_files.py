"""Reading retention profiles from YAML: the ones shipped with the service (one per seed
privacy policy, in services/erasure/retention_profiles/) and any file an org loads.

A malformed profile is refused whole, with every error named by file, rule and field, e.g.
"smb-mobil.yaml: rules[2] (login-log).keep: '-1 days': a duration must not be negative".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from services.erasure.domain.retention_profile import RetentionProfile

PROFILES_DIR = Path(__file__).resolve().parent.parent / "retention_profiles"


class ProfileError(ValueError):
    """A retention profile that cannot be used; the message says where and why."""


def parse_profile(text: str, source: str) -> RetentionProfile:
    """`source` names the file in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ProfileError(f"{source}: not YAML: {error}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: a profile is a mapping of name, seed, version, rules")
    try:
        return RetentionProfile.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(_describe(e["loc"], e["msg"], data) for e in error.errors())
        raise ProfileError(f"{source}: {problems}") from None


def load_profile(path: Path | str) -> RetentionProfile:
    path = Path(path)
    return parse_profile(path.read_text(encoding="utf-8"), path.name)


def builtin_profiles() -> dict[str, RetentionProfile]:
    """The shipped profiles by name."""
    profiles: dict[str, RetentionProfile] = {}
    for path in sorted(PROFILES_DIR.glob("*.yaml")):
        profile = load_profile(path)
        if profile.name in profiles:
            raise ProfileError(f"{path.name}: a second profile named {profile.name}")
        profiles[profile.name] = profile
    return profiles


def _describe(loc: tuple[int | str, ...], message: str, data: dict[str, Any]) -> str:
    """pydantic's ('rules', 2, 'keep') as "rules[2] (login-log).keep", naming the rule by its
    category so that the author finds it without counting."""
    message = message.removeprefix("Value error, ")
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules")
        rule = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        category = rule.get("category") if isinstance(rule, dict) else None
        where = f"rules[{loc[1]}]" + (f" ({category})" if isinstance(category, str) else "")
        fields = ".".join(str(part) for part in loc[2:])
        return f"{where}.{fields}: {message}" if fields else f"{where}: {message}"
    if loc:
        return f"{'.'.join(str(part) for part in loc)}: {message}"
    return message
