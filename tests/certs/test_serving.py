"""The serving certificate: names the API server dials, loopback names, and extensions a Go client accepts."""

from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.authority import KeyPair, create_authority, key_matches
from certs.serving import create_serving, label_problem, names_of, renew_serving, service_names

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SERVICE_DNS = (
    "netweave-webhook",
    "netweave-webhook.netweave-system",
    "netweave-webhook.netweave-system.svc",
    "netweave-webhook.netweave-system.svc.cluster.local",
    "localhost",
)


def _issue(ca_type: str = "ecdsa", leaf_type: str = "ecdsa", days: int = 365) -> tuple[KeyPair, KeyPair]:
    ca = create_authority(now=NOW, key_type=ca_type)  # type: ignore[arg-type]
    names = service_names("netweave-webhook", "netweave-system")
    return ca, create_serving(ca, names=names, now=NOW, days=days, key_type=leaf_type)  # type: ignore[arg-type]


def _verify_signature(ca: KeyPair, cert: x509.Certificate) -> None:
    """Check the signature with the CA public key directly, independent of the library's chain helpers."""
    public = ca.cert.public_key()
    assert cert.signature_hash_algorithm is not None
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(
            cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm
        )


@pytest.mark.parametrize(
    ("ca_type", "leaf_type"),
    [
        pytest.param("ecdsa", "ecdsa", id="ecdsa-ca-ecdsa-leaf"),
        pytest.param("ecdsa", "rsa", id="ecdsa-ca-rsa-leaf"),
        pytest.param("rsa", "ecdsa", id="rsa-ca-ecdsa-leaf"),
        pytest.param("rsa", "rsa", id="rsa-ca-rsa-leaf"),
    ],
)
def test_serving_cert_is_signed_by_the_ca_key(ca_type: str, leaf_type: str) -> None:
    ca, serving = _issue(ca_type, leaf_type)
    _verify_signature(ca, serving.cert)
    assert serving.cert.issuer == ca.cert.subject
    assert key_matches(serving.key, serving.cert)


def test_serving_cert_names_the_service_and_loopback() -> None:
    _, serving = _issue()
    names = names_of(serving.cert)
    assert names.dns == SERVICE_DNS
    assert names.ips == (ip_address("127.0.0.1"), ip_address("::1"))


def test_serving_cert_is_a_server_leaf() -> None:
    _, serving = _issue()
    extensions = serving.cert.extensions
    constraints = extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


@pytest.mark.parametrize(
    ("leaf_type", "key_encipherment"),
    [pytest.param("ecdsa", False, id="ecdsa-signs-only"), pytest.param("rsa", True, id="rsa-key-transport")],
)
def test_serving_key_usage_fits_the_key_type(leaf_type: str, key_encipherment: bool) -> None:
    _, serving = _issue(leaf_type=leaf_type)
    usage = serving.cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.key_encipherment is key_encipherment
    assert not usage.value.key_cert_sign


def test_serving_authority_key_id_is_the_ca_subject_key_id() -> None:
    ca, serving = _issue()
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = serving.cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = serving.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(serving.key.public_key()).digest


@pytest.mark.parametrize(
    ("days", "expected_after"),
    [
        pytest.param(365, NOW + timedelta(days=365), id="one-year"),
        pytest.param(7, NOW + timedelta(days=7), id="one-week"),
        pytest.param(99999, NOW + timedelta(days=3650), id="clamped-to-ca-expiry"),
    ],
)
def test_serving_validity(days: int, expected_after: datetime) -> None:
    _, serving = _issue(days=days)
    assert serving.cert.not_valid_after_utc == expected_after
    assert serving.cert.not_valid_before_utc < NOW


def test_renewal_keeps_names_and_key_type_with_a_new_key() -> None:
    ca, old = _issue(leaf_type="rsa")
    new = renew_serving(ca, old, now=NOW + timedelta(days=340))
    assert names_of(new.cert) == names_of(old.cert)
    assert isinstance(new.key, rsa.RSAPrivateKey)
    assert not key_matches(new.key, old.cert)
    assert new.cert.not_valid_after_utc == NOW + timedelta(days=340 + 365)


@pytest.mark.parametrize(
    ("service", "namespace", "common_name"),
    [
        pytest.param("netweave-webhook", "netweave-system", "netweave-webhook.netweave-system.svc", id="svc-name"),
        pytest.param("s" * 63, "n" * 63, "s" * 63, id="too-long-for-a-cn-uses-the-service"),
    ],
)
def test_common_name(service: str, namespace: str, common_name: str) -> None:
    ca = create_authority(now=NOW)
    serving = create_serving(ca, names=service_names(service, namespace), now=NOW)
    [attribute] = serving.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert attribute.value == common_name
    assert f"{service}.{namespace}.svc" in names_of(serving.cert).dns


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("netweave-webhook", id="plain"),
        pytest.param("a", id="one-char"),
        pytest.param("x" * 63, id="63-chars"),
        pytest.param("1abc", id="leading-digit"),
    ],
)
def test_valid_labels(name: str) -> None:
    assert label_problem("--service", name) is None


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        pytest.param("", "must not be empty", id="empty"),
        pytest.param("Webhook", "not a DNS-1123 label", id="upper-case"),
        pytest.param("web.hook", "not a DNS-1123 label", id="dot"),
        pytest.param("-webhook", "not a DNS-1123 label", id="leading-dash"),
        pytest.param("webhook-", "not a DNS-1123 label", id="trailing-dash"),
        pytest.param("x" * 64, "not a DNS-1123 label", id="64-chars"),
    ],
)
def test_invalid_labels(name: str, fragment: str) -> None:
    problem = label_problem("--service", name)
    assert problem is not None
    assert fragment in problem
    assert problem.startswith("--service")
