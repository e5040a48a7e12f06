"""Database faults: the run's own PostgreSQL, where sink workers write (harness.database.postgres).

A server left by a harness that died is removed by `kafka-chaos cluster down` (the database's own
sweep, `harness.database.postgres.sweep`), not by a fault sweep: those run between a run's
phases, while the run's database must keep running.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from harness.faults.base import Env, FaultError, FaultSpec, Injected, World, fault


@fault
class KillDatabase(FaultSpec):
    """SIGKILL the run's PostgreSQL, server and backends at once (a crash: uncommitted
    transactions are gone, committed ones survive in its WAL); healed by starting it again.
    Needs nothing of the backend: the database is the run's own."""

    fault: Literal["kill-database"] = "kill-database"

    def conflicts(self, world: World) -> Iterator[tuple[tuple, str]]:
        if not world.database:
            yield (), "kill-database needs a sink in the workload: the database is the sinks'"

    def inject(self, env: Env) -> Injected:
        database = env.workload.database if env.workload else None
        if database is None or database.pid is None:
            raise FaultError("no database is running (the workload has no sinks)")
        pid = database.kill()

        def heal() -> str:
            database.start()
            return f"started postgres (pid {database.pid})"

        return Injected(f"SIGKILL postgres (pid {pid})", ["database"], [f"SIGKILL process group {pid}"], heal)
