"""Each drill module gets a rig of its own: a drill leaves processes killed, paused and
restarted, and the next one must not start from that."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.drills.rig import Rig, running_rig

# The figure; DRILL_MEMBERS=100 for a quick look while working on a drill.
MEMBERS = int(os.environ.get("DRILL_MEMBERS", "1000"))
# The load runs at about two members a second on two cores (slower while a fault lasts or
# something else runs): room for well under one a second, then the books, then the stack.
LOAD_TIMEOUT_S = max(600.0, 120.0 + 1.5 * MEMBERS)
TEST_TIMEOUT_S = LOAD_TIMEOUT_S + 600.0


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with running_rig(tmp_path_factory.mktemp("drill")) as rig:
        yield rig
