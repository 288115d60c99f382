"""`certs` is also a PyPI name: make sure the tests import this repository's package."""

from pathlib import Path

import certs
from tests.paths import REPO


def test_certs_is_the_repository_package() -> None:
    assert Path(certs.__file__).resolve().parent == REPO / "certs"
