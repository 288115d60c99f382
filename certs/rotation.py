"""Keep a directory of PEM files current: decide (pure) what must be renewed, then write it atomically.

Layout, the same as a `kubernetes.io/tls` Secret plus the CA: ``ca.crt``, ``ca.key``, ``tls.crt``, ``tls.key``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certs.authority import (
    CA_DAYS,
    KeyPair,
    KeyType,
    create_authority,
    encode_cert,
    encode_key,
    is_authority,
    is_issued_by,
    key_matches,
    key_type_of,
)
from certs.serving import SERVING_DAYS, SubjectNames, create_serving, names_of, service_names
from cni.atomicfile import write_atomic

RENEWAL_MARGIN = timedelta(days=30)
KEY_MODE = 0o600
CERT_MODE = 0o644
DEV_SERVICE = "netweave-webhook"
DEV_NAMESPACE = "netweave-system"


class CertificateFileError(Exception):
    """A PEM file that is missing, unreadable or not what its name says; the message names the file."""


@dataclass(frozen=True, slots=True)
class CertPaths:
    """Where the four PEM files of one directory live."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    tls_cert: Path
    tls_key: Path

    @classmethod
    def of(cls, directory: Path) -> CertPaths:
        return cls(
            directory=directory,
            ca_cert=directory / "ca.crt",
            ca_key=directory / "ca.key",
            tls_cert=directory / "tls.crt",
            tls_key=directory / "tls.key",
        )


@dataclass(frozen=True, slots=True)
class Ensured:
    """What `ensure_certificates` found and did."""

    paths: CertPaths
    authority: KeyPair
    serving: KeyPair
    actions: tuple[str, ...]  # one human-readable line per file pair written; empty when nothing changed
    ca_changed: bool  # True: every caBundle that trusted the old CA must be patched again


def needs_renewal(cert: x509.Certificate, now: datetime, margin: timedelta) -> bool:
    """True when ``cert`` expires within ``margin`` of ``now``, has expired, or is not valid yet."""
    # A notBefore in the future means the clock went back or the cert came from elsewhere: unusable now.
    return now < cert.not_valid_before_utc or now >= cert.not_valid_after_utc - margin


def authority_renewal_reason(current: KeyPair | None, *, now: datetime, margin: timedelta) -> str | None:
    """Why the CA must be (re)created, or None to keep it."""
    if current is None:
        return "created CA"
    if not is_authority(current.cert):
        return "replaced CA (ca.crt is not a CA certificate)"
    if needs_renewal(current.cert, now, margin):
        return f"renewed CA (expires {current.cert.not_valid_after_utc:%Y-%m-%d})"
    return None


def serving_renewal_reason(
    current: KeyPair | None,
    *,
    authority: KeyPair,
    names: SubjectNames | None,
    key_type: KeyType | None,
    now: datetime,
    margin: timedelta,
) -> str | None:
    """Why the serving certificate must be (re)issued, or None to keep it."""
    if current is None:
        return "created serving certificate"
    if not is_issued_by(current.cert, authority.cert):
        return "reissued serving certificate (not signed by the current CA)"
    if needs_renewal(current.cert, now, margin):
        return f"renewed serving certificate (expires {current.cert.not_valid_after_utc:%Y-%m-%d})"
    if names is not None and not _same_names(names, names_of(current.cert)):
        return "reissued serving certificate (service names changed)"
    if key_type is not None and key_type != key_type_of(current.key):
        return f"reissued serving certificate (key type changed to {key_type})"
    return None


def ensure_certificates(
    directory: Path,
    *,
    now: datetime,
    service: str | None = None,
    namespace: str | None = None,
    margin: timedelta = RENEWAL_MARGIN,
    key_type: KeyType | None = None,
    ca_days: int = CA_DAYS,
    serving_days: int = SERVING_DAYS,
    force: bool = False,
) -> Ensured:
    """Create what is missing in ``directory`` and renew what expires within ``margin``, reusing the CA.

    Without ``service``/``namespace`` the names come from the existing serving certificate (renewal only).
    Raises CertificateFileError for unreadable or half-present files.
    """
    paths = CertPaths.of(directory)
    names = service_names(service, namespace) if service and namespace else None
    old_ca = None if force else load_pair(paths.ca_cert, paths.ca_key)
    old_serving = None if force else load_pair(paths.tls_cert, paths.tls_key)
    if names is None and old_serving is None:
        raise CertificateFileError(
            f"{directory}: no serving certificate to renew; create one with `netweave certs generate`"
        )
    actions: list[str] = []
    authority, ca_action = _ensure_authority(old_ca, now=now, margin=margin, days=ca_days, key_type=key_type)
    if ca_action is not None:
        actions.append(ca_action)
    serving = old_serving
    reason = serving_renewal_reason(
        old_serving, authority=authority, names=names, key_type=key_type, now=now, margin=margin
    )
    if serving is None or reason is not None:
        wanted, kind = _serving_request(names, key_type, serving)
        serving = create_serving(authority, names=wanted, now=now, days=serving_days, key_type=kind)
        actions.append(reason or "created serving certificate")
    if authority is not old_ca or serving is not old_serving:
        directory.mkdir(parents=True, exist_ok=True)
    if authority is not old_ca:
        write_pair(authority, cert_path=paths.ca_cert, key_path=paths.ca_key)
    if serving is not old_serving:
        write_pair(serving, cert_path=paths.tls_cert, key_path=paths.tls_key)
    return Ensured(
        paths=paths, authority=authority, serving=serving, actions=tuple(actions), ca_changed=authority is not old_ca
    )


def dev_certificates(directory: Path) -> tuple[Path, Path]:
    """Certificate and key paths for `netweave serve` without --tls-cert/--tls-key, created when needed."""
    ensured = ensure_certificates(
        directory, now=datetime.now(UTC), service=DEV_SERVICE, namespace=DEV_NAMESPACE
    )
    return ensured.paths.tls_cert, ensured.paths.tls_key


def load_pair(cert_path: Path, key_path: Path) -> KeyPair | None:
    """The key pair stored in two PEM files, or None when neither file exists."""
    present = [path for path in (cert_path, key_path) if path.exists()]
    if not present:
        return None
    if len(present) == 1:
        missing = key_path if present[0] == cert_path else cert_path
        raise CertificateFileError(f"{missing}: missing, but {present[0]} exists; restore it or remove both")
    cert = load_certificate(cert_path)
    key = load_private_key(key_path)
    if not key_matches(key, cert):
        raise CertificateFileError(f"{key_path}: this key does not belong to the certificate in {cert_path}")
    return KeyPair(key=key, cert=cert)


def load_certificate(path: Path) -> x509.Certificate:
    """The first certificate in a PEM file."""
    data = _read(path)
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as error:
        raise CertificateFileError(f"{path}: not a PEM certificate ({error})") from error


def load_certificates(path: Path) -> tuple[x509.Certificate, ...]:
    """Every certificate in a PEM file (a CA bundle may hold the old and the new CA during rotation)."""
    data = _read(path)
    try:
        certs = tuple(x509.load_pem_x509_certificates(data))
    except ValueError as error:
        raise CertificateFileError(f"{path}: not a PEM certificate ({error})") from error
    return certs


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """An unencrypted ECDSA or RSA private key from a PEM file."""
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise CertificateFileError(f"{path}: not an unencrypted PEM private key ({error})") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateFileError(f"{path}: only ECDSA and RSA keys are supported")
    return key


def write_pair(pair: KeyPair, *, cert_path: Path, key_path: Path) -> None:
    """Write key then certificate, each atomically; the key is readable by its owner only."""
    write_atomic(key_path, encode_key(pair.key), mode=KEY_MODE, parents=False)
    write_atomic(cert_path, encode_cert(pair.cert), mode=CERT_MODE, parents=False)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CertificateFileError(f"{path}: cannot read ({error.strerror or error})") from error


def _ensure_authority(
    current: KeyPair | None, *, now: datetime, margin: timedelta, days: int, key_type: KeyType | None
) -> tuple[KeyPair, str | None]:
    reason = authority_renewal_reason(current, now=now, margin=margin)
    if current is not None and reason is None:
        return current, None
    # A renewed CA keeps its key type unless another was asked for.
    kind = key_type or (key_type_of(current.key) if current is not None else "ecdsa")
    return create_authority(now=now, days=days, key_type=kind), reason or "created CA"


def _serving_request(
    names: SubjectNames | None, key_type: KeyType | None, previous: KeyPair | None
) -> tuple[SubjectNames, KeyType]:
    # Asked-for names and key type win; otherwise renewal copies them from the certificate it replaces.
    if names is None:
        if previous is None:
            raise CertificateFileError("no service names given and no serving certificate to copy them from")
        names = names_of(previous.cert)
    if key_type is None:
        key_type = key_type_of(previous.key) if previous is not None else "ecdsa"
    return names, key_type


def _same_names(left: SubjectNames, right: SubjectNames) -> bool:
    return set(left.dns) == set(right.dns) and set(left.ips) == set(right.ips)
