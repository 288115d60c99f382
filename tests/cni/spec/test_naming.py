"""Interface naming: automatic names never collide with explicit ones; validity is the kernel's, byte by byte."""

import pytest

from cni.spec import parse_networks
from cni.spec.naming import duplicate_names, free_interface_name, ifname_problem, interface_names, reserved_for

NAMES = [
    pytest.param('[{"name":"a"},{"name":"b","interface":"net1"}]', ("net2", "net1"), id="explicit-later-wins"),
    pytest.param("a,b@net1,c", ("net2", "net1", "net3"), id="skip-explicit-keep-position"),
    pytest.param("a@net3,b,c", ("net3", "net2", "net4"), id="explicit-first-then-skip"),
    pytest.param("a,a,a", ("net1", "net2", "net3"), id="same-network-three-times"),
    pytest.param("a@eth0,b", ("eth0", "net2"), id="explicit-primary-kept-for-the-reserved-rule"),
]


@pytest.mark.parametrize(("text", "expected"), NAMES)
def test_automatic_names_skip_every_explicit_name(text: str, expected: tuple[str, ...]) -> None:
    assert interface_names(parse_networks(text).elements) == expected


def test_automatic_names_skip_the_primary_interface() -> None:
    assert interface_names(parse_networks("a").elements, primary="net1") == ("net2",)


def test_free_interface_name_starts_at_the_position() -> None:
    assert free_interface_name({"net2", "net3"}, 2) == "net4"
    assert free_interface_name({"net2"}, 1) == "net1"


VALID = [
    pytest.param("net1", id="plain"),
    pytest.param("abcdefghijklmno", id="fifteen-bytes"),
    pytest.param("my_if", id="underscore"),
    pytest.param("...", id="three-dots"),
    pytest.param("é", id="utf8-without-space-byte"),   # C3 A9
    pytest.param("a\x01b", id="control-byte-the-kernel-accepts"),
]


@pytest.mark.parametrize("name", VALID)
def test_names_the_kernel_accepts(name: str) -> None:
    assert ifname_problem(name) is None


INVALID = [
    pytest.param("", "is empty", id="empty"),
    pytest.param("abcdefghijklmnop", "is 16 bytes long; the kernel allows at most 15", id="sixteen-bytes"),
    pytest.param("ééééééééé", "is 18 bytes long; the kernel allows at most 15", id="nine-chars-eighteen-bytes"),
    pytest.param(".", "is not allowed", id="dot"),
    pytest.param("..", "is not allowed", id="dotdot"),
    pytest.param("a/b", "contains '/'", id="slash"),
    pytest.param("a:b", "contains ':'", id="colon"),
    pytest.param("a\x00b", "contains a NUL byte", id="nul"),
    pytest.param("net 1", "contains a space", id="space"),
    pytest.param("a\tb", "contains byte 0x09, which the kernel counts as whitespace", id="tab"),
    pytest.param("a\x0bb", "contains byte 0x0b, which the kernel counts as whitespace", id="vertical-tab"),
    pytest.param("a\u00e0", "contains byte 0xa0, which the kernel counts as whitespace", id="utf8-c3-a0"),
    pytest.param("a\u00a0", "contains byte 0xa0, which the kernel counts as whitespace", id="nbsp-c2-a0"),
    pytest.param("a\ud800", "is not valid UTF-8 (it contains a lone surrogate)", id="lone-surrogate"),
    # C2 85: no kernel space byte, but CNI's ValidateInterfaceName (Go unicode.IsSpace) refuses it.
    pytest.param("a\x85", "contains U+0085, which CNI plugins count as whitespace", id="nel-plugins-refuse"),
    pytest.param("a\u3000\u2028", "contains U+2028, U+3000, which CNI plugins count as whitespace",
                 id="ideographic-space-line-separator"),
]


@pytest.mark.parametrize(("name", "reason"), INVALID)
def test_names_the_kernel_refuses(name: str, reason: str) -> None:
    assert ifname_problem(name) == reason


def test_only_the_kernel_space_bytes_are_refused() -> None:
    # lib/ctype.c: _S is set on 0x09-0x0d, 0x20 and 0xa0 only; '/' and ':' are dev_valid_name's own.
    ascii_refused = {b for b in range(1, 128) if ifname_problem(f"a{chr(b)}") is not None}
    assert ascii_refused == {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, ord("/"), ord(":")}
    two_byte = [chr(c) for c in range(0x80, 0x800)]
    assert [c for c in two_byte if ifname_problem(f"a{c}") is not None] == \
        [c for c in two_byte if 0xA0 in c.encode("utf-8") or c == "\x85"]  # U+0085: CNI's own check


RESERVED = [
    pytest.param("eth0", "eth0", "the cluster default network", id="primary"),
    pytest.param("mgmt0", "mgmt0", "the cluster default network", id="primary-from-policy"),
    pytest.param("lo", "eth0", "the loopback device", id="loopback"),
    pytest.param("eth1", "eth0", None, id="free"),
]


@pytest.mark.parametrize(("name", "primary", "expected"), RESERVED)
def test_reserved_names(name: str, primary: str, expected: str | None) -> None:
    assert reserved_for(name, primary=primary) == expected


def test_duplicates_point_at_the_first_holder() -> None:
    assert duplicate_names(["net1", "a", "net1", "a", "net1"]) == ((2, 0), (3, 1), (4, 0))
    assert duplicate_names(["net1", "net2"]) == ()
