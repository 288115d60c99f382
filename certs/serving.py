"""The webhook's serving certificate: the names the API server dials, signed by the netweave CA."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv6Address, ip_address

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.authority import (
    CLOCK_SKEW,
    ORGANIZATION,
    KeyPair,
    KeyType,
    generate_key,
    key_type_of,
    signature_hash,
)

SERVING_DAYS = 365
CLUSTER_DOMAIN = "cluster.local"
# Loopback names let the same certificate serve local runs (`netweave serve`, docker compose, tests).
LOOPBACK_DNS: tuple[str, ...] = ("localhost",)
LOOPBACK_IPS: tuple[IPv4Address | IPv6Address, ...] = (ip_address("127.0.0.1"), ip_address("::1"))
# RFC 1123 label as Kubernetes checks Service and Namespace names (IsDNS1123Label).
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_MAX = 63
_COMMON_NAME_MAX = 64  # RFC 5280 ub-common-name


@dataclass(frozen=True, slots=True)
class SubjectNames:
    """What a serving certificate must be valid for."""

    dns: tuple[str, ...]
    ips: tuple[IPv4Address | IPv6Address, ...]


def label_problem(what: str, value: str) -> str | None:
    """Why ``value`` cannot be a Service/Namespace name, or None when it can."""
    if not value:
        return f"{what} must not be empty"
    if len(value) > _LABEL_MAX or not _LABEL.fullmatch(value):
        return (
            f"{what} {value!r} is not a DNS-1123 label "
            f"(lower-case letters, digits and '-', at most {_LABEL_MAX} characters, alphanumeric at both ends)"
        )
    return None


def service_names(service: str, namespace: str, *, cluster_domain: str = CLUSTER_DOMAIN) -> SubjectNames:
    """Every name a client may use for ``service`` in ``namespace``, plus the loopback names.

    The API server dials ``<service>.<namespace>.svc``; the shorter and longer forms cover in-cluster clients
    that rely on search domains or use the fully qualified name.
    """
    dns = (
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.{cluster_domain}",
        *LOOPBACK_DNS,
    )
    return SubjectNames(dns=dns, ips=LOOPBACK_IPS)


def names_of(cert: x509.Certificate) -> SubjectNames:
    """The DNS names and IP addresses in ``cert``'s subjectAltName (empty when it has none)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return SubjectNames(dns=(), ips=())
    return SubjectNames(
        dns=tuple(san.get_values_for_type(x509.DNSName)),
        ips=tuple(san.get_values_for_type(x509.IPAddress)),  # type: ignore[arg-type]
    )


def create_serving(
    authority: KeyPair,
    *,
    names: SubjectNames,
    now: datetime,
    days: int = SERVING_DAYS,
    key_type: KeyType = "ecdsa",
) -> KeyPair:
    """Create a serving key and a certificate for ``names``, signed by ``authority``."""
    key = generate_key(key_type)
    # A leaf that outlives its CA fails verification anyway; clamping keeps renewal dates honest.
    not_after = min(now + timedelta(days=days), authority.cert.not_valid_after_utc)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, _common_name(names)),
        ]
    )
    ca_ski = authority.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    san: list[x509.GeneralName] = [x509.DNSName(name) for name in names.dns]
    san += [x509.IPAddress(ip) for ip in names.ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(authority.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(key_type), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # Go (the API server) matches names against subjectAltName only, never the CN (Go 1.15+).
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(authority.key, signature_hash())
    )
    return KeyPair(key=key, cert=cert)


def renew_serving(authority: KeyPair, previous: KeyPair, *, now: datetime, days: int = SERVING_DAYS) -> KeyPair:
    """A fresh key and certificate with the same names and key type as ``previous``."""
    return create_serving(
        authority, names=names_of(previous.cert), now=now, days=days, key_type=key_type_of(previous.key)
    )


def _common_name(names: SubjectNames) -> str:
    # The CN is informational only (clients match subjectAltName); the `.svc` name is what operators look for.
    # RFC 5280 caps it at 64 characters, which long Service + Namespace names exceed: fall back to a shorter one.
    preferred = [name for name in names.dns if name.endswith(".svc")] + list(names.dns)
    return next((name for name in preferred if len(name) <= _COMMON_NAME_MAX), "netweave")


def _leaf_key_usage(key_type: KeyType) -> x509.KeyUsage:
    # keyEncipherment only means something for RSA key transport; ECDSA keys only sign (RFC 5480 §3).
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_type == "rsa",
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
