"""Where the repository and the shared fixtures live, for every test module."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NETWEAVE_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"
SEEDS = REPO / "tests" / "fixtures" / "seeds"
