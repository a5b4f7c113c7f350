"""What the e2e tests of forms, sign-up, consents and policies share: a club (an org with a
registration form published), a client with its key, and a sign-up request that answers it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from membership.v1 import membership_pb2 as pb

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import OrgApi, create_org, publish_form

FORM_YAML = """\
key: default
title: Innmelding 2027
fields:
  - key: date_of_birth
    label: {nb: Fødselsdato, en: Date of birth}
    type: date
    required: true
    category: identity
    purpose: age check for guardian consent
    legal_basis: contract
    retention: P1Y
  - key: shirt
    label: {nb: Trøyestørrelse, en: Shirt size}
    type: choice
    choices: [S, M, L]
    category: preferences
    purpose: club kit
    legal_basis: contract
    retention: P0D
  - key: allergies
    label: {nb: Allergier, en: Allergies}
    type: text
    category: health
    purpose: safety on camps
    legal_basis: consent
    retention: P0D
    justification: "GDPR art. 9(2)(a): explicit consent, asked for camps only"
consent_purposes:
  - key: newsletter
    label: {nb: Nyhetsbrev, en: Newsletter}
    channel: email
  - key: photos
    label: {nb: Bilder på nett, en: Photos online}
"""


def signup(**fields: object) -> pb.RegisterMemberRequest:
    base: dict[str, object] = {
        "name": "Ola Nordmann",
        "email": "ola@example.no",
        "phone": "+4791000001",
        "answers": {"date_of_birth": "1990-05-17"},
    }
    return pb.RegisterMemberRequest(**(base | fields))


def club_fixtures(name: str, org_number: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Fixtures `club` (one per test module: an org with FORM_YAML published) and `api`
    (the org API with the club's key). Each module names its own club."""

    @pytest.fixture(scope="module")
    def club(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
        org = create_org(stack, name, org_number)
        publish_form(stack, org["org_id"], FORM_YAML, tmp_path_factory.mktemp("forms"))
        return org

    @pytest.fixture
    def api(stack: Stack, club: dict[str, str]) -> Iterator[OrgApi]:
        org_api = OrgApi(stack, club["api_key"])
        yield org_api
        org_api.close()

    return club, api
