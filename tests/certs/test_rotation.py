"""Renewal decisions (pure) and the directory of PEM files that ensure_certificates keeps current."""

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from certs import dev_certificates
from certs.authority import create_authority, is_issued_by
from certs.rotation import (
    CertificateFileError,
    CertPaths,
    ensure_certificates,
    load_certificate,
    load_pair,
    needs_renewal,
)
from certs.serving import names_of

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MARGIN = timedelta(days=30)
# A CA made at NOW: valid from NOW - 5 min until NOW + 3650 days.
CERT = create_authority(now=NOW).cert
EXPIRY = NOW + timedelta(days=3650)


@pytest.mark.parametrize(
    ("now", "margin", "expected"),
    [
        pytest.param(NOW, MARGIN, False, id="fresh"),
        pytest.param(EXPIRY - MARGIN - DAY, MARGIN, False, id="one-day-before-margin"),
        pytest.param(EXPIRY - MARGIN, MARGIN, True, id="margin-reached"),
        pytest.param(EXPIRY - DAY, MARGIN, True, id="inside-margin"),
        pytest.param(EXPIRY, MARGIN, True, id="expiry-instant"),
        pytest.param(EXPIRY + DAY, MARGIN, True, id="expired"),
        pytest.param(EXPIRY - DAY, timedelta(0), False, id="no-margin-still-valid"),
        pytest.param(NOW - DAY, MARGIN, True, id="not-valid-yet"),
    ],
)
def test_needs_renewal(now: datetime, margin: timedelta, expected: bool) -> None:
    assert needs_renewal(CERT, now, margin) is expected


def _ensure(directory: Path, now: datetime = NOW, **options: object):  # type: ignore[no-untyped-def]
    return ensure_certificates(
        directory, now=now, service="netweave-webhook", namespace="netweave-system", **options  # type: ignore[arg-type]
    )


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_creates_ca_and_serving_cert_in_a_new_directory(tmp_path: Path) -> None:
    ensured = _ensure(tmp_path / "certs")
    assert ensured.actions == ("created CA", "created serving certificate")
    assert sorted(_files(tmp_path / "certs")) == ["ca.crt", "ca.key", "tls.crt", "tls.key"]
    paths = CertPaths.of(tmp_path / "certs")
    assert is_issued_by(load_certificate(paths.tls_cert), load_certificate(paths.ca_cert))
    assert ensured.ca_changed


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        pytest.param("ca.key", 0o600, id="ca-key-owner-only"),
        pytest.param("tls.key", 0o600, id="tls-key-owner-only"),
        pytest.param("ca.crt", 0o644, id="ca-cert-world-readable"),
        pytest.param("tls.crt", 0o644, id="tls-cert-world-readable"),
    ],
)
def test_file_modes(tmp_path: Path, name: str, mode: int) -> None:
    _ensure(tmp_path)
    assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode


def test_second_run_keeps_valid_files(tmp_path: Path) -> None:
    _ensure(tmp_path)
    before = _files(tmp_path)
    ensured = _ensure(tmp_path, now=NOW + timedelta(days=100))
    assert ensured.actions == ()
    assert not ensured.ca_changed
    assert _files(tmp_path) == before


def test_serving_cert_near_expiry_is_renewed_and_the_ca_reused(tmp_path: Path) -> None:
    _ensure(tmp_path)
    before = _files(tmp_path)
    later = NOW + timedelta(days=340)  # serving cert expires at NOW + 365 days: inside the 30-day margin
    ensured = _ensure(tmp_path, now=later)
    assert ensured.actions == ("renewed serving certificate (expires 2027-01-01)",)
    assert not ensured.ca_changed
    after = _files(tmp_path)
    assert (after["ca.crt"], after["ca.key"]) == (before["ca.crt"], before["ca.key"])
    assert after["tls.crt"] != before["tls.crt"] and after["tls.key"] != before["tls.key"]
    renewed = load_certificate(tmp_path / "tls.crt")
    assert renewed.not_valid_after_utc == later + timedelta(days=365)
    assert is_issued_by(renewed, load_certificate(tmp_path / "ca.crt"))


def test_renewal_without_service_copies_names_and_key_type(tmp_path: Path) -> None:
    _ensure(tmp_path, key_type="rsa")
    old = load_certificate(tmp_path / "tls.crt")
    ensured = ensure_certificates(tmp_path, now=NOW + timedelta(days=350), margin=MARGIN)
    assert ensured.actions == ("renewed serving certificate (expires 2027-01-01)",)
    assert names_of(ensured.serving.cert) == names_of(old)
    assert isinstance(ensured.serving.key, rsa.RSAPrivateKey)


def test_ca_near_expiry_replaces_ca_and_serving_cert(tmp_path: Path) -> None:
    _ensure(tmp_path, ca_days=400)
    old_ca = load_certificate(tmp_path / "ca.crt")
    ensured = _ensure(tmp_path, now=NOW + timedelta(days=380))
    assert ensured.ca_changed
    assert ensured.actions == (
        "renewed CA (expires 2027-02-05)",
        "reissued serving certificate (not signed by the current CA)",
    )
    assert load_certificate(tmp_path / "ca.crt") != old_ca
    assert is_issued_by(load_certificate(tmp_path / "tls.crt"), load_certificate(tmp_path / "ca.crt"))


@pytest.mark.parametrize(
    ("options", "action"),
    [
        pytest.param({"service": "other"}, "reissued serving certificate (service names changed)", id="names"),
        pytest.param({"key_type": "rsa"}, "reissued serving certificate (key type changed to rsa)", id="key-type"),
    ],
)
def test_changed_request_reissues_the_serving_cert(tmp_path: Path, options: dict[str, str], action: str) -> None:
    _ensure(tmp_path)
    request = {"service": "netweave-webhook", "namespace": "netweave-system", **options}
    ensured = ensure_certificates(tmp_path, now=NOW, **request)  # type: ignore[arg-type]
    assert ensured.actions == (action,)
    assert not ensured.ca_changed


def test_a_leaf_in_place_of_the_ca_is_replaced(tmp_path: Path) -> None:
    _ensure(tmp_path)
    for suffix in ("crt", "key"):
        (tmp_path / f"ca.{suffix}").write_bytes((tmp_path / f"tls.{suffix}").read_bytes())
    ensured = _ensure(tmp_path)
    assert ensured.actions == (
        "replaced CA (ca.crt is not a CA certificate)",
        "reissued serving certificate (not signed by the current CA)",
    )


def test_force_replaces_everything(tmp_path: Path) -> None:
    _ensure(tmp_path)
    before = _files(tmp_path)
    ensured = _ensure(tmp_path, force=True)
    assert ensured.ca_changed
    assert all(_files(tmp_path)[name] != content for name, content in before.items())


def test_renewal_of_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CertificateFileError, match="no serving certificate to renew"):
        ensure_certificates(tmp_path, now=NOW)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(lambda d: (d / "tls.key").unlink(), r"tls\.key: missing, but .*tls\.crt exists", id="half"),
        pytest.param(lambda d: (d / "ca.crt").write_text("junk"), r"ca\.crt: not a PEM certificate", id="bad-pem"),
        pytest.param(
            lambda d: (d / "tls.key").write_text("junk"), r"tls\.key: not an unencrypted PEM private key", id="bad-key"
        ),
        pytest.param(
            lambda d: (d / "tls.key").write_bytes((d / "ca.key").read_bytes()),
            r"tls\.key: this key does not belong to the certificate",
            id="wrong-key",
        ),
    ],
)
def test_damaged_directories_are_reported(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    _ensure(tmp_path)
    damage(tmp_path)
    with pytest.raises(CertificateFileError, match=message):
        _ensure(tmp_path)


def test_load_pair_of_absent_files_is_none(tmp_path: Path) -> None:
    assert load_pair(tmp_path / "tls.crt", tmp_path / "tls.key") is None


def test_dev_certificates_are_created_once_and_valid_now(tmp_path: Path) -> None:
    cert_path, key_path = dev_certificates(tmp_path / "dev")
    assert (cert_path.name, key_path.name) == ("tls.crt", "tls.key")
    first = cert_path.read_bytes()
    assert dev_certificates(tmp_path / "dev") == (cert_path, key_path)
    assert cert_path.read_bytes() == first
    cert = x509.load_pem_x509_certificate(first)
    assert not needs_renewal(cert, datetime.now(UTC), MARGIN)
    assert "localhost" in names_of(cert).dns
