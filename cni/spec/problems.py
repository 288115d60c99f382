"""Problems: user mistakes in network annotations and NAD configs, reported as values."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK_ANNOTATION = "v1.multus-cni.io/default-network"
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
RESOURCE_NAME_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"
NODE_SELECTOR_ANNOTATION = "k8s.v1.cni.cncf.io/nodeSelector"


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake at one field path, with a hint that says how to fix it."""

    path: str
    message: str
    hint: str
    severity: Severity = "error"


def annotation_path(key: str, prefix: str = "") -> str:
    """The field path of an annotation, e.g. metadata.annotations["k8s.v1.cni.cncf.io/networks"]."""
    return f'{prefix}metadata.annotations[{json.dumps(key)}]'


def describe(value: object) -> str:
    """A short, safe rendering of a user value for messages (never the whole document): JSON, with every
    character that is not printable (C1 controls, DEL, U+2028, bidi overrides, lone surrogates) escaped."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else _escape(c) for c in text)
    return text if len(text) <= 60 else text[:57] + "..."


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for 'expected X, got Y' messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


# Built once: json.loads(..., hooks) would build a decoder per call, on the admission hot path.
_STRICT = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def load_json(text: str | bytes) -> tuple[Any, str | None]:
    """Decode strict JSON: (value, None), or (None, why) for malformed text, NaN/Infinity, numbers out of range,
    integers longer than Python converts, or nesting too deep. Never raises."""
    try:
        return _STRICT.decode(text if isinstance(text, str) else text.decode("utf-8")), None
    except json.JSONDecodeError as err:
        return None, f"{err.msg} at line {err.lineno} column {err.colno}"
    except RecursionError:
        return None, "nesting too deep"
    except ValueError as err:  # NaN/Infinity, 1e999, or an integer over sys.get_int_max_str_digits() digits
        return None, str(err).split(";")[0]
