"""Org API keys `kt_<key id>_<secret>`: minted once, stored as a hash, parsed on use."""

from __future__ import annotations

import pytest

from services.membership.domain.api_keys import hash_secret, matches, mint, parse


def test_minted_key_parses_back_to_its_id_and_secret() -> None:
    minted = mint()
    parsed = parse(minted.plaintext)
    assert parsed is not None
    key_id, secret = parsed
    assert key_id == minted.key_id
    assert matches(secret, minted.secret_hash)


def test_stored_hash_does_not_reveal_the_secret() -> None:
    minted = mint()
    _, secret = parse(minted.plaintext) or ("", "")
    assert secret not in minted.secret_hash
    assert minted.plaintext not in minted.secret_hash


def test_every_minted_key_is_different() -> None:
    first, second = mint(), mint()
    assert first.key_id != second.key_id
    assert first.plaintext != second.plaintext


def test_wrong_secret_does_not_match() -> None:
    minted = mint()
    assert not matches("guessed-secret", minted.secret_hash)


def test_secret_containing_underscores_still_parses() -> None:
    assert parse("kt_0123456789abcdef_ab_cd_ef") == ("0123456789abcdef", "ab_cd_ef")
    assert matches("ab_cd_ef", hash_secret("ab_cd_ef"))


@pytest.mark.parametrize(
    "api_key",
    [
        "",
        "kt",
        "kt_",
        "kt_abc",
        "kt_abc_",
        "kt__secret",
        "xx_abc_secret",
        "KT_abc_secret",
        "Bearer kt_abc_secret",
    ],
)
def test_malformed_keys_parse_to_none(api_key: str) -> None:
    assert parse(api_key) is None


def test_scopes_are_checked_and_ordered() -> None:
    from services.common.errors import InvalidArgument
    from services.common.grpc.auth import ORG_SCOPES
    from services.membership.domain.api_keys import validate_label, validate_scopes

    assert validate_scopes(["admin", "members:read", "admin"], ORG_SCOPES) == (
        "members:read",
        "admin",
    )
    with pytest.raises(InvalidArgument) as unknown:
        validate_scopes(["members:read", "root"], ORG_SCOPES)
    assert "root" in unknown.value.field_errors["scopes"]
    with pytest.raises(InvalidArgument):
        validate_scopes([], ORG_SCOPES)
    with pytest.raises(InvalidArgument):
        validate_label("x" * 101)
