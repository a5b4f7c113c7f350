"""Which policy versions a new member must accept, and who must accept again."""

from __future__ import annotations

from services.membership.domain.orgs import OrgProfile, PolicyState

NONE = PolicyState()


def org(privacy: PolicyState = NONE, terms: PolicyState = NONE) -> OrgProfile:
    return OrgProfile("o", "Klubben", "916476507", "nb", privacy=privacy, terms=terms)


def test_without_policies_nothing_is_accepted() -> None:
    assert org().acceptance_errors(0, 0) == {}
    assert set(org().acceptance_errors(1, 0, "accepted_")) == {"accepted_policy_version"}


def test_a_new_member_accepts_the_current_versions() -> None:
    current = org(PolicyState(3, 2), PolicyState(1, 1))
    assert current.acceptance_errors(3, 1) == {}
    assert current.acceptance_errors(2, 0, "accepted_") == {
        "accepted_policy_version": "accept the current privacy policy, version 3",
        "accepted_terms_version": "accept the current terms, version 1",
    }


def test_only_a_material_change_asks_members_again() -> None:
    current = org(PolicyState(3, 2), PolicyState(1, 1))
    assert not current.needs_reconsent(2, 1)  # version 3 was not material
    assert current.needs_reconsent(1, 1)
    assert current.needs_reconsent(3, 0)
