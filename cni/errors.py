"""CniError: the one exception of the node side, rendered as the CNI spec's error JSON (CNI SPEC §"Error")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal

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


@dataclass(frozen=True, slots=True)
class FailedAt:
    """Where an operation failed and what it undid: carried by the CniError up to the one place that logs it
    (cni.execute), so lower layers need not log the same failure at error level themselves."""

    network: str | None = None   # the network whose delegate failed; None: the pod's routes, the request, ...
    interface: str | None = None   # that network's interface in the pod
    reason: str | None = None   # why a DEL failure is fatal (see cni.attach)
    rollback: Literal["complete", "incomplete"] | None = None   # None: no rollback ran

    def log_fields(self) -> dict[str, str | None]:
        """The structured fields of the error's log record (None values are left out of the JSON line)."""
        return {"network": self.network, "network_ifname": self.interface, "fatal_because": self.reason,
                "rollback": self.rollback}


class CniError(Exception):
    """A failure that becomes `{"cniVersion", "code", "msg", "details"}` on stdout and a non-zero exit; `at`
    says where it happened, for the log only."""

    def __init__(self, code: int, msg: str, details: str = "", *, at: FailedAt | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details
        self.at = at

    def log_fields(self) -> dict[str, str | None]:
        """The FailedAt fields of its log record ({} when it carries none)."""
        return self.at.log_fields() if self.at else {}

    def bug(self) -> BaseException | None:
        """The exception a code 999 stands for (a layer rolled back, then raised it `from` the bug), for the
        traceback of the one log record; None for every other failure."""
        cause = self.__cause__
        return cause if self.code == UNEXPECTED and cause is not None and not isinstance(cause, CniError) else None

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


def unexpected(exc: BaseException) -> CniError:
    """Code 999 for a failure that is not a CniError (a bug): the one way every layer reports one. The caller
    raises it `from exc`, so the one log record can carry the original traceback."""
    return CniError(UNEXPECTED, "unexpected error", repr(exc))


def failure_fields(e: CniError, *, command: str | None, container_id: str | None, ifname: str | None,
                   pod: str | None) -> dict[str, object]:
    """The structured fields of the one error record of a failed operation (a CNI call, a hot-plug step, a GC
    delete): what an operator needs to find the sandbox, the code, and where it failed."""
    return {"command": command, "container_id": container_id, "ifname": ifname, "pod": pod, "code": e.code,
            **e.log_fields()}
