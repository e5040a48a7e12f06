"""Secured clusters: what `cluster: {security: ...}` asks for, the material that makes it (a CA per
cluster, certificates, keys, SCRAM passwords, all in one folder of the cluster's workdir) and the
settings brokers and clients need.

    protocol: sasl_ssl   clients authenticate with SCRAM (mechanism) over TLS
    protocol: ssl        clients authenticate with a certificate of the cluster's CA (mutual TLS)
    protocol: plaintext  no security (the default)

A secured cluster secures every listener: the controller listener is TLS with client certificates
(brokers and controllers present the broker certificate), inter-broker traffic uses the cluster's
protocol. Authorization is always on (StandardAuthorizer, nothing allowed without an ACL); the
brokers and the harness's admin are super users, every worker is a principal of its own.
Principals are user names: SCRAM user names, or the CN of a client certificate (mapped by
`ssl.principal.mapping.rules`).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

BROKER_USER = "broker"  # the principal of every broker and controller
ADMIN_USER = "kc-admin"  # the harness's own: a super user
SCRAM_ITERATIONS = 4096
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
VALID_DAYS = 365


class SecurityProtocol(StrEnum):
    PLAINTEXT = "plaintext"
    SASL_SSL = "sasl_ssl"  # SCRAM over TLS
    SSL = "ssl"  # mutual TLS

    @property
    def kafka(self) -> str:
        return self.value.upper()


class Mechanism(StrEnum):
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    SCRAM_SHA_256 = "SCRAM-SHA-256"


class SecuritySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: SecurityProtocol = Field(SecurityProtocol.PLAINTEXT,
                                       description="plaintext, sasl_ssl (SCRAM over TLS) or ssl (mutual TLS); "
                                                   "a secured cluster authorizes every client by ACLs")
    mechanism: Mechanism = Field(Mechanism.SCRAM_SHA_512, description="sasl_ssl: the SCRAM mechanism")

    @property
    def secured(self) -> bool:
        return self.protocol != SecurityProtocol.PLAINTEXT

    @property
    def sasl(self) -> bool:
        return self.protocol == SecurityProtocol.SASL_SSL


@dataclass(frozen=True)
class Credential:
    """How one principal proves who it is: a SCRAM password, or a certificate and its key (PEM)."""

    user: str
    password: str | None = None
    certificate: str | None = None
    key: str | None = None

    def __repr__(self) -> str:  # never a secret in a log line or a traceback
        return f"Credential({self.user!r})"


def write_private(path: Path, data: str | bytes) -> None:
    """Write a secret: mode 0600 from the moment the file exists."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data.encode() if isinstance(data, str) else data)


class Material:
    """The CA, the broker's and the admin's certificates and keys, and the SCRAM passwords of the
    brokers and the admin, in `folder` (mode 0700; every key and password file 0600)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    ca = property(lambda self: self.folder / "ca.pem")
    ca_key = property(lambda self: self.folder / "ca.key")
    broker_keystore = property(lambda self: self.folder / "broker.keystore.pem")  # key, then certificate chain
    admin_certificate = property(lambda self: self.folder / "admin.pem")
    admin_key = property(lambda self: self.folder / "admin.key")
    admin_keystore = property(lambda self: self.folder / "admin.keystore.pem")  # for Java clients
    passwords_file = property(lambda self: self.folder / "passwords.json")
    revoked = property(lambda self: self.folder / "revoked")  # ACLs a fault took away, until restored

    @classmethod
    def create(cls, folder: Path, hosts: list[str]) -> "Material":
        """A new CA, a broker certificate valid for `hosts` (addresses), an admin certificate, passwords."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        made = cls(folder)
        ca_key = _new_key()
        ca = _certificate("kafka-chaos CA", ca_key.public_key(), ca_key, None, ca=True)
        made.ca.write_bytes(_pem(ca))
        write_private(made.ca_key, _key_pem(ca_key))
        broker_key = _new_key()
        broker = _certificate(BROKER_USER, broker_key.public_key(), ca_key, ca, hosts=hosts)
        write_private(made.broker_keystore, _key_pem(broker_key) + _pem(broker) + _pem(ca))
        admin_key = _new_key()
        admin = _certificate(ADMIN_USER, admin_key.public_key(), ca_key, ca)
        made.admin_certificate.write_bytes(_pem(admin))
        write_private(made.admin_key, _key_pem(admin_key))
        write_private(made.admin_keystore, _key_pem(admin_key) + _pem(admin) + _pem(ca))
        write_private(made.passwords_file, json.dumps({BROKER_USER: new_password(), ADMIN_USER: new_password()}))
        return made

    def password(self, user: str) -> str:
        return json.loads(self.passwords_file.read_text())[user]

    def issue(self, user: str) -> Credential:
        """A new client certificate for `user`, signed by the cluster's CA (kept in memory only)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), None)
        ca = x509.load_pem_x509_certificate(self.ca.read_bytes())
        key = _new_key()
        return Credential(user, certificate=_pem(_certificate(user, key.public_key(), ca_key, ca)).decode(),
                          key=_key_pem(key).decode())


def new_password() -> str:
    return secrets.token_urlsafe(24)


# ---- certificates (the `cryptography` package; EC P-256 keys, which Java and OpenSSL both take) ----


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _certificate(name: str, public_key, signer_key, issuer, ca: bool = False, hosts: list[str] = ()):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.subject if issuer is not None else subject)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    if hosts:
        names = [x509.DNSName("localhost")] + [x509.IPAddress(ipaddress.ip_address(h)) for h in dict.fromkeys(hosts)]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer_key, hashes.SHA256())


def _pem(certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return certificate.public_bytes(Encoding.PEM)


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


# ---- what brokers are configured with -------------------------------------------------------


@dataclass(frozen=True)
class BrokerSecurity:
    """A node's view of the material: where it finds its keystore and the CA (a container sees
    other paths than the host), and the broker's SCRAM password for inter-broker SASL."""

    spec: SecuritySpec
    keystore: Path
    truststore: Path
    password: str

    @classmethod
    def of(cls, spec: SecuritySpec, material: Material) -> "BrokerSecurity":
        return cls(spec, material.broker_keystore, material.ca, material.password(BROKER_USER))


def broker_properties(security: BrokerSecurity, listeners: list[str]) -> dict[str, str]:
    """TLS on every listener (client certificates required on the controller listener, and on all
    of them under ssl), SCRAM on the others under sasl_ssl, the authorizer and its super users."""
    spec = security.spec
    props = {
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(security.keystore),
        "ssl.truststore.type": "PEM", "ssl.truststore.location": str(security.truststore),
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
        "listener.name.controller.ssl.client.auth": "required",
        "authorizer.class.name": AUTHORIZER,
        "super.users": f"User:{BROKER_USER};User:{ADMIN_USER}",
        "allow.everyone.if.no.acl.found": "false",
    }
    if spec.sasl:
        mechanism = spec.mechanism.value
        props |= {"sasl.enabled.mechanisms": mechanism, "sasl.mechanism.inter.broker.protocol": mechanism}
        jaas = f'{SCRAM_LOGIN} required username="{BROKER_USER}" password="{security.password}";'
        for listener in listeners:  # the broker's own login, for inter-broker connections
            props[f"listener.name.{listener.lower()}.{mechanism.lower()}.sasl.jaas.config"] = jaas
    else:
        props["ssl.client.auth"] = "required"
    return props


def scram_format_arguments(spec: SecuritySpec, material: Material) -> list[str]:
    """`kafka-storage format` arguments that store the brokers' and the admin's SCRAM credentials in
    the cluster's first metadata, so brokers can authenticate to each other before anything runs."""
    if not spec.sasl:
        return []
    return [arg for user in (BROKER_USER, ADMIN_USER) for arg in (
        "--add-scram", f"{spec.mechanism.value}=[name={user},password={material.password(user)},"
                       f"iterations={SCRAM_ITERATIONS}]")]


def java_argfile_quoted(arg: str) -> str:
    """`arg` as one argument of a java launcher @argfile: quoted, with backslashes and quotes escaped."""
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- what clients are configured with ---------------------------------------------------------


def client_properties(spec: SecuritySpec, material: Material, credential: Credential) -> dict[str, str]:
    """librdkafka properties for a client of `credential` (certificates as PEM strings: a worker
    gets them through its environment, never a file)."""
    props = {"security.protocol": spec.protocol.kafka, "ssl.ca.location": str(material.ca)}
    if spec.sasl:
        return props | {"sasl.mechanism": spec.mechanism.value, "sasl.username": credential.user,
                        "sasl.password": credential.password}
    return props | {"ssl.certificate.pem": credential.certificate, "ssl.key.pem": credential.key}


def admin_properties(spec: SecuritySpec, material: Material) -> dict[str, str]:
    """librdkafka properties of the harness's own clients: the admin, a super user."""
    props = {"security.protocol": spec.protocol.kafka, "ssl.ca.location": str(material.ca)}
    if spec.sasl:
        return props | {"sasl.mechanism": spec.mechanism.value, "sasl.username": ADMIN_USER,
                        "sasl.password": material.password(ADMIN_USER)}
    return props | {"ssl.certificate.location": str(material.admin_certificate),
                    "ssl.key.location": str(material.admin_key)}


def java_admin_properties(spec: SecuritySpec, material: Material) -> dict[str, str]:
    """The admin's settings for a Java client (e.g. Kafka's ProducerPerformance)."""
    props = {"security.protocol": spec.protocol.kafka, "ssl.truststore.type": "PEM",
             "ssl.truststore.location": str(material.ca)}
    if spec.sasl:
        return props | {"sasl.mechanism": spec.mechanism.value, "sasl.jaas.config":
                        f'{SCRAM_LOGIN} required username="{ADMIN_USER}" password="{material.password(ADMIN_USER)}";'}
    return props | {"ssl.keystore.type": "PEM", "ssl.keystore.location": str(material.admin_keystore)}


@dataclass(frozen=True)
class Login:
    """How the harness's own raw connections (harness.cluster.metadata) authenticate: TLS with the
    cluster's CA (and, under ssl, the admin's certificate), then SCRAM under sasl_ssl."""

    spec: SecuritySpec
    material: Material
    credential: Credential | None = None  # None: the admin

    def wrap(self, sock, host: str):
        context = ssl.create_default_context(cafile=str(self.material.ca))
        if not self.spec.sasl:
            if self.credential is None:
                context.load_cert_chain(str(self.material.admin_certificate), str(self.material.admin_key))
            else:
                raise ValueError("a raw login with a client certificate is the admin's only")
        return context.wrap_socket(sock, server_hostname=host)

    @property
    def scram(self) -> tuple[str, str, str] | None:
        """(mechanism, user, password) under sasl_ssl."""
        if not self.spec.sasl:
            return None
        if self.credential is None:
            return self.spec.mechanism.value, ADMIN_USER, self.material.password(ADMIN_USER)
        return self.spec.mechanism.value, self.credential.user, self.credential.password


# ---- authorization -------------------------------------------------------------------------------


class Resource(StrEnum):
    TOPIC = "topic"
    GROUP = "group"
    TRANSACTIONAL_ID = "transactional-id"
    CLUSTER = "cluster"


class Operation(StrEnum):
    READ = "read"
    WRITE = "write"
    DESCRIBE = "describe"
    IDEMPOTENT_WRITE = "idempotent-write"


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule: `user` may do `operation` on a resource (its name, or every name that starts
    with it when `prefixed`). A user without one is refused (allow.everyone.if.no.acl.found=false)."""

    user: str
    resource: Resource
    name: str
    operation: Operation
    prefixed: bool = False

    def __str__(self) -> str:
        pattern = "prefix " if self.prefixed else ""
        return f"User:{self.user} {self.operation} on {self.resource} {pattern}{self.name}"

    def to_json(self) -> dict:
        return {"user": self.user, "resource": self.resource.value, "name": self.name,
                "operation": self.operation.value, "prefixed": self.prefixed}

    @classmethod
    def from_json(cls, data: dict) -> "Acl":
        return cls(data["user"], Resource(data["resource"]), data["name"], Operation(data["operation"]),
                   bool(data.get("prefixed", False)))
