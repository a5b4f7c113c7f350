"""The merged member export and its published schema; the one-time links' tokens."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import itsdangerous
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from services.erasure.domain import exports
from services.erasure.domain.export_links import ExportLinks

# Each store's export as its subject_store.py shapes it (abridged).
STORES: dict[str, dict[str, Any]] = {
    "membership": {
        "consents": {"granted": ["marketing"], "history": [{"purpose": "marketing"}]},
        "login_log": [{"kind": "login", "at": "2026-01-02T10:00:00+00:00"}],
        "audit": [],
        "member": {"member_id": "m-1", "personal_data": {"name": {"value": "Kari"}}},
    },
    "billing": {
        "invoices": [{"invoice_id": "i-1", "amount_ore": 50000}],
        "credit_notes": [],
        "ledger_entries": [],
        "stripe_customer_id": None,
    },
    "notify": {"messages": [{"message_id": "msg-1", "channel": "email"}]},
    "erasure": {"data_key": {"created_at": "2026-01-01T00:00:00+00:00", "shredded_at": None}},
}


def validator() -> Draft202012Validator:
    schema = json.loads(exports.SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def merged(stores: dict[str, dict[str, Any]] = STORES) -> dict[str, Any]:
    return exports.merge(
        request_id="r-1",
        request_type="access",
        org_id="org-a",
        member_id="m-1",
        generated_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        stores=stores,
    )


def test_the_merged_document_names_its_schema_and_validates() -> None:
    document = merged()
    assert document["schema"] == exports.SCHEMA_ID == validator().schema["$id"]
    assert list(document["stores"]) == ["billing", "erasure", "membership", "notify"]
    assert document["generated_at"] == "2026-03-01T12:00:00+00:00"
    assert list(validator().iter_errors(document)) == []


def test_a_document_missing_a_store_or_with_an_unknown_field_does_not_validate() -> None:
    without_billing = merged({k: v for k, v in STORES.items() if k != "billing"})
    assert not validator().is_valid(without_billing)
    assert not validator().is_valid({**merged(), "extra": 1})
    assert not validator().is_valid({**merged(), "request_type": "erasure"})


def test_every_top_level_field_and_store_is_documented() -> None:
    schema = validator().schema
    for name, field in schema["properties"].items():
        assert field.get("description"), name
    for name, store in schema["properties"]["stores"]["properties"].items():
        assert store.get("description") and store["type"] == "object", name


def test_the_readme_explains_each_section() -> None:
    text = exports.readme(merged())
    for store in STORES:
        assert f"stores.{store}" in text
    assert exports.SCHEMA_ID in text


def test_passwords_are_long_random_and_easy_to_read_out() -> None:
    passwords = {exports.new_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert re.fullmatch(r"([2-9a-km-z]{5}-){4}[2-9a-km-z]{5}", password), password


LINKS = ExportLinks("link-key", "https://erasure.example.org/", ttl_s=3600)


def token_of(url: str) -> str:
    assert url.startswith("https://erasure.example.org/exports/")
    return url.rsplit("/", 1)[1]


def test_a_signed_link_names_its_request_and_nothing_else() -> None:
    token = token_of(LINKS.url("r-1"))
    check = LINKS.check(token)
    assert (check.request_id, check.expired) == ("r-1", False)
    assert "m-1" not in token and "org-a" not in token


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        token_of(ExportLinks("another-key", "https://erasure.example.org", 3600).url("r-1")),
        token_of(LINKS.url("r-1"))[:-2] + "xx",  # tampered signature
    ],
    # Named, not shown: the tokens carry the time they were made, and every test worker
    # must collect the same test ids.
    ids=["empty", "not-a-token", "another-key", "tampered"],
)
def test_a_forged_or_tampered_token_names_nothing(token: str) -> None:
    assert LINKS.check(token).request_id is None


def test_a_link_older_than_its_ttl_is_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    token = token_of(LINKS.url("r-1"))
    later = int(datetime.now(UTC).timestamp()) + LINKS.ttl_s + 1
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: later)
    check = LINKS.check(token)
    assert (check.request_id, check.expired) == ("r-1", True)
