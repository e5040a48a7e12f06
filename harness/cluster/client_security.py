"""`security:` of a cluster someone else runs (the ssh and external backends): how the harness
logs in to it as a client. The harness does not manage its users or ACLs: its admin, its
metadata probes and every worker log in as the one principal given here, which must be allowed
to create and delete the run's topics, write, read and commit (faults that need a principal per
worker, revoke-acl and rotate-credentials, need the local backend).

    security:                             # SCRAM over TLS
      protocol: sasl_ssl
      mechanism: SCRAM-SHA-512            # or SCRAM-SHA-256
      ca_file: /etc/kafka/ca.pem          # default: this machine's trusted CAs
      username: chaos
      password_env: KAFKA_CHAOS_PASSWORD  # or password_file: /run/secrets/kafka (first line)

    security:                             # mutual TLS
      protocol: ssl
      ca_file: /etc/kafka/ca.pem
      certificate_file: /etc/kafka/chaos.pem
      key_file: /etc/kafka/chaos.key      # unencrypted PEM

A password is never written in the experiment: only where to find it, which is what the run
directory keeps. Files and the variable are checked when an experiment is validated to run;
the password is read when a client is made.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from harness.cluster.security import SecurityProtocol
from harness.errors import EnvironmentProblem


class ClientMechanism(StrEnum):
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    SCRAM_SHA_256 = "SCRAM-SHA-256"


class ClientSecurity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["sasl_ssl", "ssl"] = Field(description="sasl_ssl (SCRAM over TLS) or ssl (mutual TLS)")
    mechanism: ClientMechanism = Field(ClientMechanism.SCRAM_SHA_512, description="sasl_ssl: the SCRAM mechanism")
    ca_file: str | None = Field(None, min_length=1, max_length=4096,
                                description="PEM file of the CA that signed the brokers' certificates; "
                                            "default: this machine's trusted CAs")
    username: str | None = Field(None, min_length=1, max_length=256, description="sasl_ssl: the SCRAM user")
    password_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
                                     description="sasl_ssl: the environment variable holding the password")
    password_file: str | None = Field(None, min_length=1, max_length=4096,
                                      description="sasl_ssl: a file whose first line is the password")
    certificate_file: str | None = Field(None, min_length=1, max_length=4096,
                                         description="ssl: the client's certificate (PEM)")
    key_file: str | None = Field(None, min_length=1, max_length=4096,
                                 description="ssl: the client certificate's private key (PEM, unencrypted)")

    @model_validator(mode="before")
    @classmethod
    def _no_inline_password(cls, data):
        if isinstance(data, dict) and "password" in data:
            raise PydanticCustomError("inline_password", "a password is never written in the experiment: "
                                      "give password_env or password_file")
        return data

    @model_validator(mode="after")
    def _complete(self) -> "ClientSecurity":
        if self.sasl:
            if self.username is None:
                raise _refused("sasl_ssl needs username")
            if (self.password_env is None) == (self.password_file is None):
                raise _refused("sasl_ssl needs exactly one of password_env and password_file "
                                 "(a password is never written in the experiment)")
            if self.certificate_file or self.key_file:
                raise _refused("certificate_file and key_file are for protocol ssl (mutual TLS)")
        else:
            if not (self.certificate_file and self.key_file):
                raise _refused("ssl (mutual TLS) needs certificate_file and key_file")
            if self.username or self.password_env or self.password_file or "mechanism" in self.model_fields_set:
                raise _refused("username, password and mechanism are for protocol sasl_ssl")
        return self

    @field_validator("ca_file", "password_file", "certificate_file", "key_file")
    @classmethod
    def _readable(cls, path: str | None, info: ValidationInfo) -> str | None:
        """When the experiment is to run here (the loader says so), the file must be readable."""
        if path is not None and _checking(info):
            file = Path(path).expanduser()
            if not file.is_file():
                raise PydanticCustomError("missing_file", "no such file: {path}", {"path": path})
            if not os.access(file, os.R_OK):
                raise PydanticCustomError("unreadable_file", "cannot read {path}", {"path": path})
        return path

    @field_validator("password_env")
    @classmethod
    def _set(cls, name: str | None, info: ValidationInfo) -> str | None:
        if name is not None and _checking(info) and not os.environ.get(name):
            raise PydanticCustomError("missing_env", "environment variable {name} is not set (it holds the "
                                      "password)", {"name": name})
        return name

    # ---- what clients are configured with ------------------------------------------------------

    @property
    def sasl(self) -> bool:
        return self.protocol == SecurityProtocol.SASL_SSL.value

    def password(self) -> str:
        """Read now, from the variable or the file (its first line)."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if not value:
                raise EnvironmentProblem(f"environment variable {self.password_env} (the cluster's password, "
                                         "security.password_env) is not set")
            return value
        try:
            lines = Path(self.password_file).expanduser().read_text().splitlines()
        except OSError as exc:
            raise EnvironmentProblem(f"security.password_file {self.password_file}: {exc.strerror}") from None
        if not lines or not lines[0]:
            raise EnvironmentProblem(f"security.password_file {self.password_file}: its first line is empty")
        return lines[0]

    def librdkafka(self) -> dict[str, str]:
        """librdkafka properties of every client of the harness (admin, observer, workers)."""
        props = {"security.protocol": SecurityProtocol(self.protocol).kafka}
        if self.ca_file:
            props["ssl.ca.location"] = _path(self.ca_file)
        if self.sasl:
            return props | {"sasl.mechanism": self.mechanism.value, "sasl.username": self.username,
                            "sasl.password": self.password()}
        return props | {"ssl.certificate.location": _path(self.certificate_file),
                        "ssl.key.location": _path(self.key_file)}

    def login(self) -> "ClientLogin":
        return ClientLogin(self)


def _refused(message: str) -> PydanticCustomError:
    return PydanticCustomError("security", message)


def _checking(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("runnable"))


def _path(path: str) -> str:
    return str(Path(path).expanduser())


@dataclass(frozen=True)
class ClientLogin:
    """How the harness's raw Metadata probes (harness.cluster.metadata) log in: TLS with the CA
    (and the client certificate under ssl), then SCRAM under sasl_ssl."""

    security: ClientSecurity

    def wrap(self, sock, host: str):
        s = self.security
        context = ssl.create_default_context(cafile=_path(s.ca_file) if s.ca_file else None)
        if not s.sasl:
            context.load_cert_chain(_path(s.certificate_file), _path(s.key_file))
        return context.wrap_socket(sock, server_hostname=host)

    @property
    def scram(self) -> tuple[str, str, str] | None:
        s = self.security
        return (s.mechanism.value, s.username, s.password()) if s.sasl else None

    @property
    def who(self) -> str:
        s = self.security
        return f"user {s.username} ({s.mechanism.value})" if s.sasl else f"the certificate {s.certificate_file}"
