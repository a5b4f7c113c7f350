"""`kontingent member import`: every row checked, errors by line number, valid rows imported
in batches, and a second run creates no duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import cli, cli_json, create_org, publish_form

pytestmark = pytest.mark.e2e

FORM = """\
fields:
  - key: date_of_birth
    label: {nb: Fødselsdato, en: Date of birth}
    type: date
    category: identity
    purpose: age check for guardian consent
    legal_basis: contract
    retention: P1Y
consent_purposes:
  - key: newsletter
    label: {nb: Nyhetsbrev, en: Newsletter}
    channel: email
"""

# Line 1 is the header; line numbers below are what an editor shows.
CSV = """\
name,email,phone,date_of_birth,consents,guardian_name,guardian_phone,guardian_consent
Anne Berg,anne@example.no,+4792000001,1980-01-01,newsletter,,,
Bjørn Dahl,bjorn@example.no,92000002,1975-05-05,,,,
,noname@example.no,+4792000003,1990-01-01,,,,
Cecilie Eng,cecilie@example.no,not-a-phone,1990-01-01,,,,
Dag Fjeld,dag@example.no,+4792000005,05.05.1990,,,,
Eva Barn,eva@example.no,+4792000006,2016-01-01,,Far Barn,+4792000099,ja
Frida Barn,frida@example.no,+4792000007,2016-01-01,,,,
Anne Berg igjen,ANNE@example.no,+4792000008,1980-01-01,,,,
Geir Hansen,geir@example.no,+4792000009,1960-06-06,spam,,,
"""


@pytest.fixture(scope="module")
def import_org(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    org = create_org(stack, "Hamar Husflidslag", "940000033")
    publish_form(stack, org["org_id"], FORM, tmp_path_factory.mktemp("import"))
    return org


def test_import_reports_bad_rows_by_line_and_imports_the_rest_once(
    stack: Stack, import_org: dict[str, str], tmp_path: Path
) -> None:
    members_csv = tmp_path / "members.csv"
    members_csv.write_text(CSV, encoding="utf-8")
    org = import_org["org_id"]

    dry = cli(stack, "member", "import", str(members_csv), "--dry-run", "--org", org, "--json")
    assert dry.returncode == 1
    assert json.loads(dry.stdout)["imported"] == 0
    assert cli_json(stack, "member", "list", "--org", org, "--json").get("members", []) == []

    first = cli(stack, "member", "import", str(members_csv), "--batch-size", "3", "--org", org)
    assert first.returncode == 1, first.stderr
    lines = first.stdout.splitlines()
    assert lines[:5] == [
        "line 4: name: required",
        "line 5: phone: not a valid phone number (E.164, e.g. +4791234567)",
        "line 6: answers.date_of_birth: not a date (YYYY-MM-DD)",
        "line 8: guardian.name: required for a member under 15; "
        "guardian.contact: an email address or a phone number is required; "
        "guardian.consent: a member under 15 needs the guardian's consent",
        "line 10: consents: not asked by form default: spam",
    ]
    # Line 9 is Anne again (the address differs only in case): one member, not two.
    assert lines[-1] == "imported 3, already members 1, rejected 5 of 9 rows"
    assert "importing" in first.stderr  # the progress bar

    listed = cli_json(stack, "member", "list", "--org", org, "--json")["members"]
    assert sorted(m["email"] for m in listed) == [
        "anne@example.no",
        "bjorn@example.no",
        "eva@example.no",
    ]
    eva = next(m for m in listed if m["email"] == "eva@example.no")
    shown = cli_json(stack, "member", "get", eva["member_id"], "--org", org)
    assert shown["guardian"] == {"name": "Far Barn", "phone": "+4792000099", "consent": True}
    anne = next(m for m in listed if m["email"] == "anne@example.no")
    consents = cli_json(stack, "consent", "list", anne["member_id"], "--org", org, "--json")
    assert [(c["purpose"], c["source"]) for c in consents["history"]] == [("newsletter", "import")]
    audit = cli_json(stack, "audit", "list", "--org", org, "--json")["entries"]
    assert sum(e["action"] == "member.imported" for e in audit) == 3

    again = cli(stack, "member", "import", str(members_csv), "--org", org, "--json")
    assert again.returncode == 1
    summary = json.loads(again.stdout)
    assert (summary["imported"], summary["already_members"], summary["rejected"]) == (0, 4, 5)
    assert [e["line"] for e in summary["errors"]] == [4, 5, 6, 8, 10]
    assert len(cli_json(stack, "member", "list", "--org", org, "--json")["members"]) == 3


def test_import_refuses_a_file_without_the_required_columns(
    stack: Stack, import_org: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("navn,epost\nA,a@example.no\n", encoding="utf-8")
    result = cli(stack, "member", "import", str(bad), "--org", import_org["org_id"])
    assert result.returncode == 2
    assert "line 1: missing column(s) name, email, phone" in result.stderr
    missing = cli(stack, "member", "import", str(tmp_path / "nope.csv"), "--org", "x")
    assert missing.returncode == 2 and "No such file" in missing.stderr
