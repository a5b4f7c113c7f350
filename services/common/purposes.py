"""The purpose key: how a processing purpose is named where it crosses a service boundary
(membership's objections, the erasure service's objection requests), so both check it alike."""

from __future__ import annotations

import re

PURPOSE_KEY = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
PURPOSE_KEY_HINT = "a purpose slug such as 'marketing' or 'newsletter'"
