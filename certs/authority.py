"""The certificate authority: a private key and a self-signed CA certificate that signs the serving cert.

The clock is an argument (``now``), never read here, so tests can age certificates without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

KeyType = Literal["ecdsa", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

KEY_TYPES: tuple[KeyType, ...] = ("ecdsa", "rsa")
CA_DAYS = 3650
CA_COMMON_NAME = "netweave-ca"
ORGANIZATION = "netweave"
# Back-date notBefore so a node whose clock lags the issuer's by a few minutes still accepts a fresh cert.
CLOCK_SKEW = timedelta(minutes=5)
RSA_BITS = 2048


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A private key and the certificate for its public half."""

    key: PrivateKey
    cert: x509.Certificate


def generate_key(key_type: KeyType) -> PrivateKey:
    """Make a new private key: ECDSA P-256 (small, fast handshakes) or RSA-2048 (for old clients)."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    return ec.generate_private_key(ec.SECP256R1())


def signature_hash() -> hashes.SHA256:
    """SHA-256 for both key types: what every Kubernetes API server and Go TLS stack accepts."""
    return hashes.SHA256()


def create_authority(
    *,
    now: datetime,
    days: int = CA_DAYS,
    key_type: KeyType = "ecdsa",
    common_name: str = CA_COMMON_NAME,
) -> KeyPair:
    """Create a CA key and its self-signed certificate, valid from ``now`` for ``days`` days."""
    key = generate_key(key_type)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=days))
        # path_length=0: this CA signs leaf certificates only, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, signature_hash())
    )
    return KeyPair(key=key, cert=cert)


def encode_key(key: PrivateKey) -> bytes:
    """PEM PKCS#8, unencrypted: what uvicorn, Go and kubectl create secret tls all read."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def encode_cert(cert: x509.Certificate) -> bytes:
    """PEM encoding of one certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def key_type_of(key: PrivateKey) -> KeyType:
    """Which of the two supported key types ``key`` is."""
    return "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ecdsa"


def key_matches(key: PrivateKey, cert: x509.Certificate) -> bool:
    """True when ``cert`` carries the public half of ``key``."""
    der = serialization.Encoding.DER
    info = serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(key.public_key().public_bytes(der, info) == cert.public_key().public_bytes(der, info))


def is_authority(cert: x509.Certificate) -> bool:
    """True when ``cert`` may sign certificates (basicConstraints CA:TRUE)."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def is_issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True when ``ca`` signed ``cert`` (issuer name and signature both checked)."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _ca_key_usage() -> x509.KeyUsage:
    # RFC 5280 §4.2.1.3: a CA that signs certificates asserts keyCertSign; cRLSign keeps revocation possible.
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
