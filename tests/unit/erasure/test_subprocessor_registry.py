"""The sub-processor registry file: valid, and naming exactly the erasure pipeline's
sub-processor targets (every target that names a recipient it tells)."""

from __future__ import annotations

from typing import Any, cast

import pytest
import yaml
from pydantic import ValidationError

from services.erasure.registry import erasure_targets
from services.erasure.subprocessors import (
    REGISTRY_FILE,
    SubprocessorRegistry,
    load_subprocessors,
)

STORES = ("membership", "billing", "notify")


def test_every_subprocessor_target_has_an_entry_and_every_entry_a_target() -> None:
    stand_in = cast(Any, object())
    registry = erasure_targets(
        {name: stand_in for name in STORES}, stand_in, stand_in, stand_in, stand_in
    )
    told = {t.name: t.recipient.name for t in registry.targets.values() if t.recipient}
    shipped = load_subprocessors()
    assert shipped.erasure_targets == set(told)
    assert {s.erasure_target: s.name for s in shipped.subprocessors} == told


def test_each_entry_says_where_and_on_what_basis() -> None:
    shipped = load_subprocessors()
    assert {s.name for s in shipped.subprocessors} >= {"Stripe", "Twilio"}
    for entry in shipped.subprocessors:
        assert entry.location and entry.transfer_basis and entry.data_categories
        assert entry.dpa_url.startswith("https://")


def _raw() -> dict[str, Any]:
    return yaml.safe_load(REGISTRY_FILE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["subprocessors"][0].pop("transfer_basis"), "transfer_basis"),
        (lambda d: d["subprocessors"][0].update(dpa_url="http://x"), "dpa_url"),
        (lambda d: d["subprocessors"][1].update(erasure_target="stripe"), "erasure_target"),
        (lambda d: d.update(version=0), "version"),
        (lambda d: d["subprocessors"][0].update(extra="no"), "extra"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_field(change: Any, field: str) -> None:
    data = _raw()
    change(data)
    with pytest.raises(ValidationError, match=field):
        SubprocessorRegistry.model_validate(data)
