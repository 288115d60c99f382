"""CniError: the one exception of the node side, rendered as the CNI spec's error JSON (CNI SPEC §"Error")."""

from __future__ import annotations

import json
from typing import Any, Final

# CNI SPEC 1.1.0, "Well-known Error Codes".
INCOMPATIBLE_VERSION: Final = 1
UNSUPPORTED_FIELD: Final = 2
UNKNOWN_CONTAINER: Final = 3
INVALID_ENVIRONMENT: Final = 4
IO_FAILURE: Final = 5
DECODING_FAILURE: Final = 6
INVALID_CONFIG: Final = 7
TRY_AGAIN_LATER: Final = 11
PLUGIN_NOT_AVAILABLE: Final = 50
LIMITED_CONNECTIVITY: Final = 51

# netweave's own codes (the spec reserves >= 100 for plugins).
POD_NOT_FOUND: Final = 101
NETWORK_NOT_FOUND: Final = 102
DELEGATE_FAILED: Final = 103
NETWORK_FORBIDDEN: Final = 104
ANNOTATION_INVALID: Final = 105
ROUTES_FAILED: Final = 106
CACHE_FAILED: Final = 107
DEVICE_UNAVAILABLE: Final = 108
ATTACHMENT_EXISTS: Final = 109   # ADD for a container id + ifname that already has a record (CNI SPEC: no ADD twice)
UNEXPECTED: Final = 999


class CniError(Exception):
    """A failure that becomes `{"cniVersion", "code", "msg", "details"}` on stdout and a non-zero exit."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_json(self, cni_version: str) -> dict[str, Any]:
        """The spec's error object."""
        out: dict[str, Any] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out

    def to_bytes(self, cni_version: str) -> bytes:
        """The error object as the bytes written to stdout."""
        return json.dumps(self.to_json(cni_version)).encode()

    def __str__(self) -> str:
        return f"{self.msg}: {self.details}" if self.details else self.msg
