"""A development certificate authority for a cluster (``pyconsensus certs``).

``init_ca`` creates a CA for one cluster; ``issue`` signs a member's or a
client's certificate with it, naming the holder with the URI the nodes check
(``pyconsensus.adapters.trio.identity``). Keys are ECDSA P-256 (fast
handshakes); key files are written readable by their owner only. Uses the
``cryptography`` package (installed with the ``dev`` extra). For production,
any CA that puts the same URI names into certificates will do.
"""

from __future__ import annotations

import datetime
import secrets
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pyconsensus.adapters.trio.identity import Role, client_uri, member_uri
from pyconsensus.core.errors import ConfigError

_KEY_MODE = 0o600
_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(*wanted: str) -> x509.KeyUsage:
    return x509.KeyUsage(**{name: name in wanted for name in _KEY_USAGES})


@attrs.frozen(slots=True)
class Issued:
    """Where a certificate and its key were written."""

    cert: Path
    key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=_KEY_MODE, exist_ok=True)
    path.chmod(_KEY_MODE)
    path.write_bytes(data)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    if days <= 0:
        raise ConfigError(f"days must be positive, got {days}")
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)


def init_ca(
    directory: Path, cluster_id: str, *, name: str = "ca", days: int = 3650, force: bool = False
) -> Issued:
    """Create the CA ``<name>.pem`` / ``<name>.key`` for ``cluster_id`` in
    ``directory`` (refused if it exists, unless ``force``)."""
    directory.mkdir(parents=True, exist_ok=True)
    issued = Issued(directory / f"{name}.pem", directory / f"{name}.key")
    if not force and (issued.cert.exists() or issued.key.exists()):
        raise ConfigError(f"{issued.cert} already exists (a new CA needs another --name)")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
            # Unique per CA, so that an old and a new CA of one cluster differ.
            x509.NameAttribute(NameOID.COMMON_NAME, f"pyconsensus CA {secrets.token_hex(4)}"),
        ]
    )
    start, end = _validity(days)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage("digital_signature", "key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(issued.key, key)
    _write_cert(issued.cert, cert)
    return issued


def _load_ca(directory: Path, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate((directory / f"{name}.pem").read_bytes())
        key = serialization.load_pem_private_key(
            (directory / f"{name}.key").read_bytes(), password=None
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the CA {name!r} in {directory}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"the CA key {name}.key is not an EC key")
    return cert, key


def ca_cluster(directory: Path, name: str = "ca") -> str:
    """The cluster id a CA made by ``init_ca`` was created for."""
    cert, _ = _load_ca(directory, name)
    names = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if not names:
        raise ConfigError(f"the CA {name!r} names no cluster; pass --cluster")
    return str(names[0].value)


def issue(
    directory: Path,
    *,
    member: int | None = None,
    client: str | None = None,
    role: Role = Role.WRITE,
    cluster_id: str | None = None,
    ca: str = "ca",
    days: int = 365,
) -> Issued:
    """Sign a certificate for ``member`` (``node-<id>.pem``) or ``client``
    (``client-<name>.pem``, with ``role``) with the CA ``ca`` in ``directory``."""
    if (member is None) == (client is None):
        raise ConfigError("issue a certificate for exactly one of a member or a client")
    ca_cert, ca_key = _load_ca(directory, ca)
    cluster = cluster_id if cluster_id is not None else ca_cluster(directory, ca)
    if member is not None:
        uri, stem = member_uri(cluster, member), f"node-{member}"
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    else:
        assert client is not None
        uri, stem = client_uri(cluster, client, role), f"client-{client}"
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _validity(days)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, stem)]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    issued = Issued(directory / f"{stem}.pem", directory / f"{stem}.key")
    _write_key(issued.key, key)
    _write_cert(issued.cert, cert)
    return issued
