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

from services.common.retention import ANONYMISABLE, RetentionProfile

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


def check_supported(profile: RetentionProfile, source: str) -> RetentionProfile:
    """What a new load (a file, a shipped profile) may ask of the sweeps: `anonymise` only
    where it is not deletion (ANONYMISABLE). Not applied to loads stored before it, which
    stay readable; their sweeps delete and count `delete`."""
    problems = [
        f"rules[{index}] ({rule.category}).action: 'anonymise' is not supported for "
        f"{rule.category} (only for {', '.join(ANONYMISABLE)}); use 'delete'"
        for index, rule in enumerate(profile.rules)
        if rule.action == "anonymise" and rule.category not in ANONYMISABLE
    ]
    if problems:
        raise ProfileError(f"{source}: {'; '.join(problems)}")
    return profile


def load_profile(path: Path | str) -> RetentionProfile:
    path = Path(path)
    return parse_profile(path.read_text(encoding="utf-8"), path.name)


def builtin_profiles() -> dict[str, RetentionProfile]:
    """The shipped profiles by name."""
    return {name: profile for name, (profile, _) in builtin_profile_files().items()}


def builtin_profile_files() -> dict[str, tuple[RetentionProfile, str]]:
    """The shipped profiles by name, each with its file's text (what an org that loads it
    keeps, so that a later change of the shipped file changes no org's profile unseen)."""
    profiles: dict[str, tuple[RetentionProfile, str]] = {}
    for path in sorted(PROFILES_DIR.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        profile = check_supported(parse_profile(text, path.name), path.name)
        if profile.name in profiles:
            raise ProfileError(f"{path.name}: a second profile named {profile.name}")
        profiles[profile.name] = (profile, text)
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
