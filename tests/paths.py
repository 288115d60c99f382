"""Where the repository, its test fixtures and the installed console scripts live, for every test module."""

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# API-server captures (admission/, apiserver/, manifests/) and the seed manifests (seeds/): see fixtures/README.md.
FIXTURES = REPO / "tests" / "fixtures"
SEEDS = FIXTURES / "seeds"
# The interpreter running the tests, and so the environment netweave is installed in (whichever venv that is).
PYTHON = Path(sys.executable)


def console_script(name: str) -> Path:
    """An entry point of pyproject.toml (`netweave-cni`, `lint-imports`) installed beside the running interpreter."""
    beside = PYTHON.parent / name
    if beside.is_file():
        return beside
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name}: not installed beside {PYTHON} nor on PATH; run `pip install -e '.[dev]'`")
    return Path(found)
