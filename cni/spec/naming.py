"""Interface names: which name each element gets, and which names the kernel and the pod accept.

One rule for admission and the node: an element's own `interface` first; every other element gets the first
`net<N>` (N from its position + 1, as Multus numbers them) that no element names explicitly and no earlier
element got. Validity is the kernel's dev_valid_name (net/core/dev.c) on the UTF-8 bytes, plus the Unicode
spaces CNI's own ValidateInterfaceName refuses (a name either refuses fails the ADD).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

IFNAMSIZ = 16  # kernel limit including the NUL byte
RESERVED = "lo"
# Bytes the kernel's isspace() counts (lib/ctype.c: _S is set on 0x09-0x0d, 0x20 and 0xa0 only). 0xa0 is a
# continuation byte in UTF-8, so "\u00a0", "\u0120", "\u00e0" and many more characters contain it.
KERNEL_SPACE = frozenset(b"\t\n\v\f\r \xa0")
_FORBIDDEN = frozenset(b"/:\x00") | KERNEL_SPACE
# Characters Go's unicode.IsSpace counts (Unicode White_Space): CNI's skel and libcni refuse a CNI_IFNAME holding
# one (ValidateInterfaceName), so every delegate would fail although the kernel takes e.g. U+0085 or U+3000.
PLUGIN_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B))
IFNAME_HINT = "use 1-15 bytes without '/', ':', NUL or whitespace, e.g. \"net1\""


class Named(Protocol):
    """What naming needs of an element: its requested interface, if any."""

    @property
    def interface(self) -> str | None: ...


def interface_names(elements: Sequence[Named], *, primary: str = "eth0") -> tuple[str, ...]:
    """Effective interface names: the requested one, else `net<position+1>` skipping every name already taken."""
    taken = {e.interface for e in elements if e.interface} | {primary}
    names: list[str] = []
    for position, element in enumerate(elements):
        if element.interface:
            names.append(element.interface)
            continue
        name = free_interface_name(taken, position + 1)
        taken.add(name)
        names.append(name)
    return tuple(names)


def free_interface_name(taken: Collection[str], start: int) -> str:
    """The first `net<N>`, N >= start, that is not taken (Multus names the N-th secondary net<N>)."""
    number = start
    while f"net{number}" in taken:
        number += 1
    return f"net{number}"


def ifname_problem(name: str) -> str | None:
    """Why the kernel would refuse this interface name, or None (dev_valid_name, byte by byte)."""
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 (it contains a lone surrogate)"
    if not raw:
        return "is empty"
    if len(raw) >= IFNAMSIZ:
        return f"is {len(raw)} bytes long; the kernel allows at most {IFNAMSIZ - 1}"
    if raw in (b".", b".."):
        return "is not allowed"
    bad = sorted({b for b in raw if b in _FORBIDDEN})
    if bad:
        return "contains " + ", ".join(_byte_name(b) for b in bad)
    spaces = sorted({c for c in name if c in PLUGIN_SPACE})
    if spaces:
        listed = ", ".join(f"U+{ord(c):04X}" for c in spaces)
        return f"contains {listed}, which CNI plugins count as whitespace"
    return None


def _byte_name(byte: int) -> str:
    if byte in b"/:":
        return repr(chr(byte))
    if byte == 0:
        return "a NUL byte"
    if byte == 0x20:
        return "a space"
    return f"byte 0x{byte:02x}, which the kernel counts as whitespace"


def reserved_for(name: str, *, primary: str) -> str | None:
    """What a requested secondary interface name is reserved for, or None."""
    if name == primary:
        return "the cluster default network"
    if name == RESERVED:
        return "the loopback device"
    return None


def duplicate_names(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """(position, position of the first element with that name) for every repeated name."""
    first: dict[str, int] = {}
    out: list[tuple[int, int]] = []
    for position, name in enumerate(names):
        if name in first:
            out.append((position, first[name]))
        else:
            first[name] = position
    return tuple(out)
