"""The lowest allowed version of every direct dependency, as pip constraints (`make test-min-deps` installs them).

    python tests/lowest_pins.py pyproject.toml > constraints.txt

Every requirement in [project.dependencies] and [project.optional-dependencies] must carry a `>=` lower bound:
a bound that nothing installs is a bound nobody has checked.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<specs>[^;]*)(?:;.*)?$")


class PinError(ValueError):
    """A requirement without a usable lower bound; the message names it."""


def lowest_pin(requirement: str) -> str:
    """`uvicorn[standard]>=0.47,<1` -> `uvicorn==0.47` (constraints take no extras)."""
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise PinError(f"{requirement!r}: not a requirement this script can read")
    lower = [s.strip()[2:].strip() for s in match["specs"].split(",") if s.strip().startswith(">=")]
    if len(lower) != 1 or not lower[0]:
        raise PinError(f"{requirement!r}: give it exactly one lower bound, e.g. '{match['name']}>=1.0'")
    return f"{match['name']}=={lower[0]}"


def lowest_pins(project: Mapping[str, Any]) -> list[str]:
    """Pins for the dependencies and every optional-dependency group of a [project] table."""
    groups: Iterable[list[str]] = project.get("optional-dependencies", {}).values()
    requirements = [*project.get("dependencies", []), *(r for group in groups for r in group)]
    return [lowest_pin(r) for r in requirements]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/lowest_pins.py pyproject.toml", file=sys.stderr)
        return 2
    with open(argv[0], "rb") as handle:
        project = tomllib.load(handle)["project"]
    try:
        print("\n".join(lowest_pins(project)))
    except PinError as err:
        print(f"{argv[0]}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
