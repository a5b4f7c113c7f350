"""An org as sign-up and the member views see it: who it is, how to reach it, which policy
and terms versions members must have accepted, and its membership types."""

from __future__ import annotations

from dataclasses import dataclass

PRIVACY = "privacy"
TERMS = "terms"
POLICY_KINDS = (PRIVACY, TERMS)


@dataclass(frozen=True)
class PolicyState:
    current: int = 0  # 0: none published
    material: int = 0  # the last version members had to accept again


@dataclass(frozen=True)
class OrgProfile:
    org_id: str
    name: str
    org_number: str
    language: str
    contact_email: str = ""
    contact_phone: str = ""
    contact_address: str = ""
    privacy: PolicyState = PolicyState()
    terms: PolicyState = PolicyState()
    type_ids: tuple[str, ...] = ()

    def needs_reconsent(self, policy_version: int, terms_version: int) -> bool:
        return policy_version < self.privacy.material or terms_version < self.terms.material

    def acceptance_errors(
        self, policy_version: int, terms_version: int, prefix: str = ""
    ) -> dict[str, str]:
        """Acceptance is of the versions in force now, or of none when there are none; the
        errors are keyed by the request's field names (`prefix` + policy_version, ...)."""
        errors = {}
        for field, state, given, what in (
            ("policy_version", self.privacy, policy_version, "privacy policy"),
            ("terms_version", self.terms, terms_version, "terms"),
        ):
            if given != state.current:
                errors[prefix + field] = (
                    f"accept the current {what}, version {state.current}"
                    if state.current
                    else f"the org has published no {what}; leave it 0"
                )
        return errors
