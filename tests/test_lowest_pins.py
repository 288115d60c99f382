"""tests/lowest_pins.py: requirements -> `==lowest` constraints for `make test-min-deps`."""

from __future__ import annotations

import tomllib

import pytest

from tests.lowest_pins import PinError, lowest_pin, lowest_pins
from tests.paths import REPO


@pytest.mark.parametrize(("requirement", "pin"), [
    ("fastapi>=0.110,<1", "fastapi==0.110"),
    ("uvicorn[standard]>=0.47,<1", "uvicorn==0.47"),
    ("PyYAML>=6.0.1,<7", "PyYAML==6.0.1"),
    ("pyroute2 >= 0.7.12, <0.10", "pyroute2==0.7.12"),
    ("kubernetes<36,>=29", "kubernetes==29"),
    ("tomli>=2; python_version < '3.11'", "tomli==2"),
])
def test_lowest_pin(requirement: str, pin: str) -> None:
    assert lowest_pin(requirement) == pin


@pytest.mark.parametrize("requirement", ["fastapi", "fastapi<1", "fastapi>=1,>=2", "fastapi==1.0", "[x]>=1"])
def test_requirement_without_one_lower_bound_is_refused(requirement: str) -> None:
    with pytest.raises(PinError, match=r"lower bound|can read"):
        lowest_pin(requirement)


def test_every_dependency_of_the_project_has_a_lower_bound() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = lowest_pins(project)
    assert len(pins) == len(project["dependencies"]) + sum(map(len, project["optional-dependencies"].values()))
    assert "uvicorn==0.51" in pins  # webhook/serve.py: Multiprocess(config, sockets) is 0.51, ssl_context_factory 0.47
