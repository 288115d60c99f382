"""The CA: a self-signed certificate that may sign leaf certificates only."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certs.authority import CLOCK_SKEW, create_authority, is_issued_by, key_matches, key_type_of

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key_type", "key_class", "size"),
    [
        pytest.param("ecdsa", ec.EllipticCurvePrivateKey, 256, id="ecdsa-p256"),
        pytest.param("rsa", rsa.RSAPrivateKey, 2048, id="rsa-2048"),
    ],
)
def test_ca_key_type(key_type: str, key_class: type, size: int) -> None:
    ca = create_authority(now=NOW, key_type=key_type)  # type: ignore[arg-type]
    assert isinstance(ca.key, key_class)
    assert ca.key.key_size == size
    assert key_type_of(ca.key) == key_type
    assert key_matches(ca.key, ca.cert)


def test_ca_is_self_signed_and_may_sign_leaves_only() -> None:
    ca = create_authority(now=NOW)
    assert ca.cert.subject == ca.cert.issuer
    assert is_issued_by(ca.cert, ca.cert)
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert (constraints.value.ca, constraints.value.path_length) == (True, 0)


def test_ca_key_usage_is_certificate_and_crl_signing() -> None:
    usage = create_authority(now=NOW).cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.key_encipherment


def test_ca_identifiers_point_at_its_own_key() -> None:
    ca = create_authority(now=NOW)
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = ca.cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(ca.key.public_key()).digest
    assert aki.key_identifier == ski.digest


@pytest.mark.parametrize(
    ("options", "expected_days"),
    [pytest.param({}, 3650, id="default-ten-years"), pytest.param({"days": 30}, 30, id="custom")],
)
def test_ca_validity_runs_from_now_less_skew(options: dict[str, int], expected_days: int) -> None:
    cert = create_authority(now=NOW, **options).cert  # type: ignore[arg-type]
    assert cert.not_valid_before_utc == NOW - CLOCK_SKEW
    assert cert.not_valid_after_utc == NOW + timedelta(days=expected_days)


def test_another_ca_did_not_issue_the_certificate() -> None:
    assert not is_issued_by(create_authority(now=NOW).cert, create_authority(now=NOW).cert)
