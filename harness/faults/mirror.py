"""Mirror faults: two data centres, the primary (the run's cluster) and the replica, with
MirrorMaker 2 between them (harness.mirror). MirrorMaker runs beside the replica, so the link
between the data centres is its path to the primary; the workers stay in the primary's.

kill-mirror · partition-dcs (MirrorMaker cut off the primary's addresses) · lose-primary
(every primary node SIGKILLed at once: what MirrorMaker had not copied yet is the recovery point).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Literal

from harness.cluster.backend import Capability
from harness.faults.base import Env, FaultError, FaultSpec, Injected, World, fault, node_list, restart_dead
from harness.faults.cut_worker import cut_process

if TYPE_CHECKING:
    from harness.mirror.maker import MirrorMaker


class MirrorFault(FaultSpec):
    def conflicts(self, world: World) -> Iterator[tuple[tuple, str]]:
        if not world.mirror:
            yield (), f"{self.name} needs a mirror (the experiment's `mirror:`)"

    @staticmethod
    def maker(env: Env) -> "MirrorMaker":
        if env.mirror is None:
            raise FaultError("no MirrorMaker is running")
        return env.mirror


@fault
class KillMirror(MirrorFault):
    """SIGKILL MirrorMaker 2; healed by starting it again (it resumes from the offsets it stored
    on the replica: what it copied after its last store is copied again)."""

    fault: Literal["kill-mirror"] = "kill-mirror"

    def inject(self, env: Env) -> Injected:
        maker = self.maker(env)
        pid = maker.kill()

        def heal() -> str:
            maker.start()
            return f"started MirrorMaker (pid {maker.pid})"

        return Injected(f"SIGKILL MirrorMaker (pid {pid})", ["mirror"], [f"SIGKILL pid {pid}"], heal)


def primary_addresses(env: Env) -> list[str]:
    return sorted({server.rsplit(":", 1)[0] for server in env.cluster.client_bootstrap_servers.split(",")})


@fault
class PartitionDataCentres(MirrorFault):
    """Cut the link between the data centres: MirrorMaker (beside the replica) can no longer reach
    the primary, whose clients go on writing. Healed by removing the rules."""

    fault: Literal["partition-dcs"] = "partition-dcs"
    needs: ClassVar = frozenset({Capability.CLIENT_NETWORK})

    def inject(self, env: Env) -> Injected:
        maker = self.maker(env)
        if maker.pid is None:
            raise FaultError("MirrorMaker is not running: nothing to cut off the primary")
        peers = primary_addresses(env)
        if set(peers) & set(maker.replica_addresses):
            raise FaultError("partition-dcs needs the clusters at addresses of their own (lab namespaces), "
                             f"both are at {sorted(set(peers) & set(maker.replica_addresses))}")
        applied, heal = cut_process(maker.pid, env.cluster.name, self.name, peers)
        return Injected(f"data centres partitioned: MirrorMaker (pid {maker.pid}) cut off {peers}", ["mirror"],
                        applied, heal)


@fault
class LosePrimary(MirrorFault):
    """Lose the primary data centre: SIGKILL every primary node at once. The replica is then the
    system of record: the heal stops MirrorMaker for good before it starts the nodes again (for
    the cluster's next run), so the replica stays as the loss left it and the checker counts
    what it never got (the recovery point) from the loss."""

    fault: Literal["lose-primary"] = "lose-primary"
    needs: ClassVar = frozenset({Capability.PROCESSES})

    def inject(self, env: Env) -> Injected:
        maker = self.maker(env)
        processes = env.processes
        ids = env.cluster.node_ids
        for node_id in ids:
            processes.node(node_id).kill()

        def heal() -> str:
            maker.stop()
            return f"MirrorMaker stopped (the replica took over); {restart_dead(env, ids)}"

        return Injected(f"primary lost: {node_list(ids)} SIGKILLed", ids, [f"SIGKILL {node_list(ids)}"], heal)
