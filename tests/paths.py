"""Where the repository and its test fixtures live, for every test module."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# API-server captures (admission/, apiserver/, manifests/) and the seed manifests (seeds/): see fixtures/README.md.
FIXTURES = REPO / "tests" / "fixtures"
SEEDS = FIXTURES / "seeds"
