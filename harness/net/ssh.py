"""Commands and files on a broker host over SSH (paramiko), with its host key checked.

A host key is checked against known_hosts, or against the SHA256 fingerprint the experiment
gives for the host; only an explicit `check_host_keys: false` trusts any key (labs). Commands
are argument lists, quoted word by word for the remote shell (`shlex.join`), never shell text.
One connection per host and process, opened on first use and kept; every problem is one line
naming the host.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shlex
import socket
import stat
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko

from harness.errors import EnvironmentProblem

logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # its failures become our one-line problems
_CONNECTIONS: dict[tuple, paramiko.SSHClient] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Access:
    """How to log in to one host (the experiment's ssh settings with the host's own applied)."""

    address: str
    port: int = 22
    user: str = "root"
    key_file: str | None = None
    passphrase: str | None = None
    password: str | None = None
    known_hosts: str | None = None
    check_host_keys: bool = True
    host_key: str | None = None  # SHA256:... fingerprint, checked instead of known_hosts
    sudo: bool = False
    timeout: float = 10.0

    @property
    def key(self) -> tuple:
        return self.address, self.port, self.user, self.key_file, self.host_key, self.check_host_keys

    def __repr__(self) -> str:  # never the secrets
        return f"Access({self.user}@{self.address}:{self.port})"


def fingerprint(key: paramiko.PKey) -> str:
    """As `ssh-keygen -l` prints it: SHA256: and the unpadded base64 of the key's digest."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


class _Expect(paramiko.MissingHostKeyPolicy):
    """Accept exactly the key with the fingerprint given in the experiment."""

    def __init__(self, wanted: str):
        self.wanted = wanted

    def missing_host_key(self, client, hostname, key) -> None:
        if fingerprint(key) != self.wanted:
            raise _WrongKey(f"its host key is {fingerprint(key)}, not {self.wanted} as the experiment says: "
                            "refusing to connect")


class _Unknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts: str):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key) -> None:
        raise _WrongKey(f"its host key {fingerprint(key)} is not in {self.known_hosts}: add it (ssh-keyscan), give "
                        "host_key in the experiment, or set ssh.check_host_keys: false for a lab")


class _WrongKey(paramiko.SSHException):
    pass


class SshShell:
    """Commands and files on one host."""

    def __init__(self, access: Access):
        self.access = access
        self.where = access.address

    def problem(self, text: str) -> EnvironmentProblem:
        return EnvironmentProblem(f"host {self.where}: {text}")

    # ---- the connection -----------------------------------------------------------------

    def client(self) -> paramiko.SSHClient:
        with _LOCK:
            found = _CONNECTIONS.get(self.access.key)
            if found is not None and found.get_transport() is not None and found.get_transport().is_active():
                return found
            client = self._connect()
            _CONNECTIONS[self.access.key] = client
            return client

    def _connect(self) -> paramiko.SSHClient:
        a = self.access
        client = paramiko.SSHClient()
        if a.host_key:
            client.set_missing_host_key_policy(_Expect(a.host_key))
        elif a.check_host_keys:
            known = os.path.expanduser(a.known_hosts or "~/.ssh/known_hosts")
            try:
                client.load_host_keys(known)
            except FileNotFoundError:
                raise self.problem(f"no known_hosts file at {known} to check its host key against (give "
                                   "ssh.known_hosts or host_key; ssh.check_host_keys: false for a lab)") from None
            client.set_missing_host_key_policy(_Unknown(known))
        else:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # asked for: labs only
        key_file = os.path.expanduser(a.key_file) if a.key_file else None
        if key_file and not os.path.isfile(key_file):
            raise self.problem(f"key file {key_file} does not exist")
        try:
            client.connect(a.address, a.port, a.user, password=a.password, key_filename=key_file,
                           passphrase=a.passphrase, timeout=a.timeout, banner_timeout=a.timeout,
                           auth_timeout=a.timeout, allow_agent=key_file is None, look_for_keys=key_file is None)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise self.problem(f"its host key {fingerprint(exc.key)} does not match the one known for it "
                               f"({fingerprint(exc.expected_key)}): refusing to connect") from None
        except _WrongKey as exc:
            client.close()
            raise self.problem(str(exc)) from None
        except paramiko.PasswordRequiredException:
            client.close()
            raise self.problem(f"key file {key_file} is encrypted: give ssh.passphrase") from None
        except paramiko.AuthenticationException:
            client.close()
            how = f"key {key_file}" if key_file else "the agent's and ~/.ssh's keys" + (" or password" if a.password
                                                                                         else "")
            raise self.problem(f"authentication as {a.user} failed with {how}") from None
        except (socket.timeout, TimeoutError):
            client.close()
            raise self.problem(f"no SSH answer on port {a.port} within {a.timeout:g} s (unreachable?)") from None
        except (OSError, paramiko.SSHException) as exc:
            client.close()
            raise self.problem(f"cannot connect over SSH to port {a.port}: {_reason(exc)}") from None
        return client

    @property
    def local_address(self) -> str:
        """This machine's address as the host sees our connection: where the workers come from."""
        return self.client().get_transport().sock.getsockname()[0]

    # ---- commands -----------------------------------------------------------------------

    def line(self, args: Sequence[str]) -> str:
        return shlex.join(["sudo", "-n", "--", *args] if self.access.sudo else list(args))

    def run(self, args: Sequence[str], *, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        command = self.line(args)
        try:
            channel = self.client().get_transport().open_session(timeout=self.access.timeout)
            channel.settimeout(timeout)
            channel.exec_command(command)
            out = channel.makefile("rb").read().decode(errors="replace")
            err = channel.makefile_stderr("rb").read().decode(errors="replace")
            code = channel.recv_exit_status()
            channel.close()
        except (socket.timeout, TimeoutError):
            raise self.problem(f"`{command}` did not finish within {timeout:g} s") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if isinstance(exc, EnvironmentProblem):
                raise
            raise self.problem(f"`{command}`: the connection failed: {_reason(exc)}") from None
        result = subprocess.CompletedProcess(list(args), code, out, err)
        if check and code != 0:
            detail = (err or out).strip().splitlines()
            raise self.problem(f"`{command}` failed: {detail[-1] if detail else f'exit code {code}'}")
        return result

    def quietly(self, args: Sequence[str]) -> bool:
        try:
            return self.run(args, check=False).returncode == 0
        except EnvironmentProblem:
            return False

    # ---- files --------------------------------------------------------------------------

    def size(self, path: str) -> int:
        """A remote file's size now (0 when it does not exist)."""
        out = self.run(["stat", "-c", "%s", path], check=False)
        return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip().isdigit() else 0

    def copy(self, path: str, into: Path, offset: int = 0) -> None:
        """A remote file from `offset` on into the local file `into`: SFTP, or `sudo tail` when
        only root may read it."""
        if self.access.sudo:
            into.write_bytes(self._read_as_root(path, offset))
            return
        with self.client().open_sftp() as sftp, sftp.open(path, "rb") as src, open(into, "wb") as dst:
            src.seek(offset)
            while chunk := src.read(1 << 20):
                dst.write(chunk)

    def copy_dir(self, path: str, into: Path, suffix: str) -> int:
        """The files of one remote folder ending in `suffix` into a local folder; how many (a
        missing folder has none)."""
        into.mkdir(parents=True, exist_ok=True)
        if self.access.sudo:
            listing = self.run(["find", path, "-maxdepth", "1", "-type", "f", "-name", f"*{suffix}"], check=False)
            names = [Path(p).name for p in listing.stdout.split()]
            for name in names:
                (into / name).write_bytes(self._read_as_root(f"{path}/{name}", 0))
            return len(names)
        with self.client().open_sftp() as sftp:
            try:
                entries = [e for e in sftp.listdir_attr(path) if stat.S_ISREG(e.st_mode or 0)]
            except FileNotFoundError:
                return 0
            names = [e.filename for e in entries if e.filename.endswith(suffix)]
            for name in names:
                sftp.get(f"{path}/{name}", str(into / name))
        return len(names)

    def _read_as_root(self, path: str, offset: int) -> bytes:
        channel = self.client().get_transport().open_session(timeout=self.access.timeout)
        channel.exec_command(self.line(["tail", "-c", f"+{offset + 1}", path]))
        data = channel.makefile("rb").read()
        channel.recv_exit_status()
        channel.close()
        return data


def close_all() -> None:
    with _LOCK:
        for client in _CONNECTIONS.values():
            client.close()
        _CONNECTIONS.clear()


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
