from __future__ import annotations

from pathlib import Path

import pytest
from taskrunner_support import Harness, make_harness


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)
