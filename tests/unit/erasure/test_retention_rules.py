"""The profile format: a malformed profile is refused with the file, rule and field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.retention import Duration
from services.erasure.adapters.retention_files import ProfileError, load_profile, parse_profile

GOOD_RULE = """\
  - category: ip-location
    keep: 30 days
    after: collection
    action: delete
    basis: "GDPR art. 6(1)(f)"
    source: Posisjonsdata GPS-koordinater IP-adresse 30 dager etter innsamling av data
"""
PROFILE = "name: test\nseed: A policy\nversion: 1\nrules:\n"


def refusal(text: str) -> str:
    with pytest.raises(ProfileError) as refused:
        parse_profile(text, "org.yaml")
    return str(refused.value)


def test_a_well_formed_profile_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(PROFILE + GOOD_RULE, encoding="utf-8")
    rule = load_profile(path).rules[0]
    assert (rule.category, rule.keep, rule.after) == (
        "ip-location",
        Duration(30, "days"),
        "collection",
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("ip-location", "ip-adresse"),
            "org.yaml: rules[0] (ip-adresse).category: Input should be",
        ),
        (
            ("30 days", "-30 days"),
            "rules[0] (ip-location).keep: '-30 days': a duration must not be negative",
        ),
        (("30 days", "a month"), "rules[0] (ip-location).keep: 'a month' is not a duration"),
        (
            ("    after: collection\n", ""),
            "rules[0] (ip-location): after: keep 30 days after which event?",
        ),
        (("after: collection", "after: signup"), "rules[0] (ip-location).after: Input should be"),
        (("action: delete", "action: shred"), "rules[0] (ip-location).action: Input should be"),
        (
            ("action: delete\n", "action: delete\n    retain: forever\n"),
            "rules[0] (ip-location).retain: Extra inputs",
        ),
        (
            ("    keep: 30 days\n", "    keep: 30 days\n    maximum: 7 days\n"),
            "rules[0] (ip-location): maximum: 7 days is shorter than keep 30 days",
        ),
        (
            ("    keep: 30 days\n    after: collection\n", "    keep_last: 0\n"),
            "rules[0] (ip-location).keep_last: Input should be greater than or equal to 1",
        ),
        (
            ("    keep: 30 days\n    after: collection\n", ""),
            "rules[0] (ip-location): keep: a duration (or keep_last: a count) is required",
        ),
    ],
)
def test_a_bad_rule_is_refused_naming_the_rule_and_field(
    change: tuple[str, str], expected: str
) -> None:
    assert expected in refusal(PROFILE + GOOD_RULE.replace(*change))


def test_a_second_rule_for_the_same_category_is_refused() -> None:
    message = refusal(PROFILE + GOOD_RULE + GOOD_RULE.replace("30 days", "60 days"))
    assert (
        "rules[1] (ip-location).category: a second rule for ip-location (the first is rules[0])"
        in message
    )


def test_a_profile_without_rules_or_with_a_text_version_is_refused() -> None:
    assert "rules: a profile needs at least one rule" in refusal(PROFILE + "  []\n")
    assert "version: Input should be a valid integer" in refusal(
        PROFILE.replace("version: 1", "version: '1'") + GOOD_RULE
    )
    assert "not YAML" in refusal("rules: [unclosed")


def test_every_error_of_a_profile_is_reported_at_once() -> None:
    message = refusal(PROFILE + GOOD_RULE.replace("30 days", "-1 days").replace("delete", "burn"))
    assert "rules[0] (ip-location).keep" in message and "rules[0] (ip-location).action" in message
