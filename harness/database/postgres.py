"""A private PostgreSQL instance for one run: Debian's server binaries, a data directory of its own,
reachable only through a unix socket in its own folder (no TCP port: nothing to collide with
other runs or agents), stopped on every way out.

    with Postgres(cluster="run", log=run.database_log) as db:   # ready on entry
        db.dsn        # what psycopg connects with
        db.kill()     # SIGKILL, as a crash (the kill-database fault); db.start() brings it back

PostgreSQL refuses to run as root: as root the server runs as the `postgres` user, and its folder
is a fresh temporary directory (a run directory may sit below folders that user cannot enter).
The folder is removed when the instance stops. Every server carries
`-c kafka_chaos.cluster=<cluster>` and `-c kafka_chaos.owner=<harness pid>` on its command line,
so `sweep` finds one a killed harness left (`kafka-chaos cluster down` runs it).
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psutil
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from harness.errors import EnvironmentProblem

log = logging.getLogger(__name__)
MARKER = "kafka_chaos.cluster="  # a custom setting on the server's command line: whose it is
OWNER = "kafka_chaos.owner="  # the harness process that started it
PREFIX = "kafka-chaos-pg-"  # its temporary folder: kafka-chaos-pg-<cluster>-XXXX
DATABASE = "sink"
READY_TIMEOUT_S = 60.0
SERVER_USER = "postgres"


class Postgres:
    def __init__(self, cluster: str, log: Path | None = None):
        self.cluster, self.log = cluster, log
        self.folder: Path | None = None
        self.popen: subprocess.Popen | None = None

    # ---- where things are -------------------------------------------------------------------

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    @property
    def dsn(self) -> str:
        """A libpq connection string: the socket folder as host, the server user, our database."""
        return f"host={self.socket_dir} dbname={DATABASE} user={SERVER_USER} connect_timeout=5"

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen and self.popen.poll() is None else None

    # ---- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> "Postgres":
        try:
            self.create()
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def create(self) -> None:
        """A fresh, empty cluster in a folder of its own (initdb), after sweeping what harnesses
        that died left of this cluster's databases."""
        for line in sweep(self.cluster, dead_owners_only=True):
            log.info("removed a database a dead harness left: %s", line)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{self.cluster}-"))
        self.socket_dir.mkdir()
        _hand_over(self.folder)
        result = subprocess.run([binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", SERVER_USER,
                                 "-E", "UTF8", "--no-sync"], capture_output=True, text=True, **_server_user())
        if result.returncode != 0:
            raise EnvironmentProblem(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")

    def start(self) -> None:
        """Start the server (on the data a previous start left, after a kill too) and wait until
        it answers; the database is created on the first start."""
        if self.pid:
            return
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        try:
            self.popen = subprocess.Popen([
                binary("postgres"), "-D", str(self.data), "-k", str(self.socket_dir),
                "-c", "listen_addresses=", "-c", "max_connections=50", "-c", "shared_buffers=16MB",
                "-c", f"{MARKER}{self.cluster}", "-c", f"{OWNER}{os.getpid()}"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                **_server_user())  # its own process group: a kill takes every backend with it
        finally:
            if self.log:
                out.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg  # the driver: only where a database runs

        def first_connect() -> None:
            if self.popen.poll() is not None:
                raise EnvironmentProblem(f"postgres exited with code {self.popen.returncode} (see {self.log})")
            with psycopg.connect(self.dsn.replace(f"dbname={DATABASE}", "dbname=postgres"), autocommit=True) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                    conn.execute(f"CREATE DATABASE {DATABASE}")

        try:
            Retrying(stop=stop_after_delay(READY_TIMEOUT_S), wait=wait_exponential(multiplier=0.05, max=1),
                     retry=retry_if_exception_type(psycopg.OperationalError), reraise=True)(first_connect)
        except psycopg.OperationalError as exc:
            raise EnvironmentProblem(f"postgres did not answer within {READY_TIMEOUT_S:.0f} s: {exc}") from exc

    def kill(self) -> int | None:
        """SIGKILL the server and its backends (a crash: the next start recovers from its WAL)."""
        pid = self.pid
        if pid:
            _kill_group(pid)
            self.popen.wait()
        return pid

    def stop(self) -> None:
        """Stop the server (a fast shutdown, SIGKILL if it lingers) and remove its folder."""
        if self.pid:
            self.popen.send_signal(signal.SIGINT)  # fast shutdown: roll back sessions, checkpoint, exit
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def _server_user() -> dict:
    """As root, run as the server's user (no intermediate process: the pid is the server's)."""
    return {"user": SERVER_USER, "group": SERVER_USER, "extra_groups": []} if os.geteuid() == 0 else {}


def binary(name: str) -> str:
    """A PostgreSQL server binary: on PATH, else Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                                                   key=_version, reverse=True)), None)
    if not found:
        raise EnvironmentProblem(f"PostgreSQL's {name} not found: apt-get install postgresql")
    return found


def available() -> bool:
    try:
        binary("initdb")
        binary("postgres")
    except EnvironmentProblem:
        return False
    return os.geteuid() != 0 or _has_user(SERVER_USER)


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _hand_over(folder: Path) -> None:
    """As root, the folder belongs to the server's user (it refuses data another user owns)."""
    if os.geteuid() == 0:
        user = pwd.getpwnam(SERVER_USER)
        for path in (folder, *folder.iterdir()):
            os.chown(path, user.pw_uid, user.pw_gid)
        folder.chmod(0o700)


def _kill_group(pid: int) -> None:
    """SIGKILL the server's process group: the postmaster and every backend it forked."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ---- what a killed harness left --------------------------------------------------------------


def servers(cluster: str | None = None) -> list[psutil.Process]:
    """Running PostgreSQL servers a harness started for `cluster` (or for any cluster)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(arg == f"{MARKER}{cluster}" or (cluster is None and arg.startswith(MARKER)) for arg in cmdline):
            found.append(proc)
    return found


def _owner_alive(proc: psutil.Process) -> bool:
    try:
        owner = next(a[len(OWNER):] for a in proc.cmdline() if a.startswith(OWNER))
        return owner.isdigit() and int(owner) != proc.pid and psutil.pid_exists(int(owner))
    except (StopIteration, psutil.Error):
        return False


def sweep(cluster: str | None = None, dead_owners_only: bool = False) -> list[str]:
    """SIGKILL the servers of `cluster` (or of every cluster) and remove their folders: what a
    harness killed mid-run left. `dead_owners_only`: spare those whose harness still lives."""
    removed = []
    for proc in servers(cluster):
        if dead_owners_only and _owner_alive(proc):
            continue
        try:
            data = Path(proc.cmdline()[proc.cmdline().index("-D") + 1])
        except (ValueError, IndexError, psutil.Error):
            continue
        _kill_group(proc.pid)
        removed.append(f"postgres {proc.pid}")
        if data.parent.name.startswith(PREFIX):
            shutil.rmtree(data.parent, ignore_errors=True)
            removed.append(f"database folder {data.parent}")
    live = {Path(p.cmdline()[p.cmdline().index("-D") + 1]).parent for p in servers() if "-D" in p.cmdline()}
    pattern = f"{PREFIX}{cluster}-*" if cluster else f"{PREFIX}*"
    for folder in Path(tempfile.gettempdir()).glob(pattern):  # folders of servers that never started
        ours = cluster is None or "-" not in folder.name[len(f"{PREFIX}{cluster}-"):]  # not cluster "<name>-x"'s
        if ours and folder not in live and not dead_owners_only:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(f"database folder {folder}")
    return removed
