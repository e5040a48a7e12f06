"""Process faults on Kafka nodes: kill, stop, pause, rolling restart, bouncing a leader.
Left behind by a dead harness: paused and dead nodes (resumed and started by the sweep)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from tenacity import RetryError, Retrying, retry_if_exception_type, retry_if_result, stop_after_delay, wait_fixed

from harness.cluster.backend import Backend, Capability
from harness.faults.base import Env, FaultError, FaultSpec, Injected, fault, node_list, restart_dead, sweep
from harness.faults.targets import Target, TopicPartition
from harness.names import TopicName
from harness.process import ProcessState

REJOIN_TIMEOUT_S = 120.0


def _wait_until(condition, what: str, timeout: float = REJOIN_TIMEOUT_S) -> None:
    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.2),
                        retry=retry_if_result(lambda ok: not ok) | retry_if_exception_type(Exception))
    try:
        retrying(condition)
    except RetryError:
        raise FaultError(f"gave up waiting {timeout:.0f} s for {what}") from None


class NodeFault(FaultSpec):
    needs: ClassVar = frozenset({Capability.PROCESSES})


@sweep(Capability.PROCESSES, last=True)
def nodes_back(cluster: Backend) -> list[str]:
    """Resume paused nodes and start dead ones."""
    done = []
    for node in (cluster.node(i) for i in cluster.node_ids):
        if node.status == ProcessState.PAUSED:
            node.resume()
            done.append(f"resumed node {node.id}")
        elif node.status == ProcessState.DEAD:
            node.start()
            done.append(f"started node {node.id}")
    return done


def _take_down(env: Env, target: Target, signal_name: str, how) -> Injected:
    """Stop the target nodes with `how(node)`; healed by starting the dead ones again."""
    ids = target.resolve(env)
    nodes = [env.processes.node(i) for i in ids]
    pids = [node.pid for node in nodes]
    for node in nodes:
        how(node)
    return Injected(f"{signal_name} {node_list(ids)} ({target})", ids, [f"{signal_name} pid {p}" for p in pids],
                    lambda: restart_dead(env, ids))


@fault
class Kill(NodeFault):
    """SIGKILL: no controlled shutdown, no flush. Healed by starting the node again."""

    fault: Literal["kill"] = "kill"
    target: Target

    def inject(self, env: Env) -> Injected:
        return _take_down(env, self.target, "SIGKILL", lambda node: node.kill())


@fault
class Stop(NodeFault):
    """SIGTERM: a controlled shutdown. Healed by starting the node again."""

    fault: Literal["stop"] = "stop"
    target: Target

    def inject(self, env: Env) -> Injected:
        return _take_down(env, self.target, "SIGTERM", lambda node: node.stop())


@fault
class Pause(NodeFault):
    """SIGSTOP: the node freezes with its sockets open (a GC pause, a hung VM). Healed by SIGCONT."""

    fault: Literal["pause"] = "pause"
    target: Target

    def inject(self, env: Env) -> Injected:
        ids = self.target.resolve(env)
        nodes = [env.processes.node(i) for i in ids]
        for node in nodes:
            node.pause()

        def heal() -> str:
            for node in nodes:
                if node.status == ProcessState.PAUSED:
                    node.resume()
            return f"SIGCONT {node_list(ids)}"

        pids = [node.pid for node in nodes]
        return Injected(f"SIGSTOP {node_list(ids)} ({self.target})", ids, [f"SIGSTOP pid {p}" for p in pids], heal)


@fault
class RollingRestart(NodeFault):
    """Every node in turn: stop (graceful unless hard), start, wait until nothing is
    under-replicated, then the next (seed scenario 34: a rolling upgrade)."""

    fault: Literal["rolling-restart"] = "rolling-restart"
    hard: bool = False
    topics: list[TopicName] = Field(default_factory=list,
                                    description="wait for these to be fully in sync between nodes")

    def capabilities(self):
        return super().capabilities() | ({Capability.TOPOLOGY} if self.topics else set())

    def inject(self, env: Env) -> Injected:
        applied, ids = [], env.cluster.node_ids
        for node_id in ids:
            node = env.processes.node(node_id)
            applied.append(f"{'SIGKILL' if self.hard else 'SIGTERM'} pid {node.pid}, then start")
            node.restart(graceful=not self.hard)
            env.events.record("fault", "progress", f"rolling restart: node {node_id} back")
            if self.topics:
                env.topology.wait_in_sync(self.topics, REJOIN_TIMEOUT_S)
        return Injected(f"rolling restart of {node_list(ids)}", ids, applied, lambda: restart_dead(env, ids))


@fault
class BounceLeader(NodeFault):
    """kafkatest's hard_bounce / clean_bounce: `times` times, kill (or stop) the partition's
    current leader, start it again and wait until it is back in the ISR."""

    fault: Literal["bounce-leader"] = "bounce-leader"
    needs: ClassVar = frozenset({Capability.PROCESSES, Capability.TOPOLOGY})
    partition: TopicPartition
    times: int = Field(1, ge=1, le=100)
    hard: bool = True

    def inject(self, env: Env) -> Injected:
        applied, bounced = [], []
        target, topology, where = Target(leader=self.partition), env.topology, self.partition
        for _ in range(self.times):
            [leader] = target.resolve(env)
            node = env.processes.node(leader)
            applied.append(f"{'SIGKILL' if self.hard else 'SIGTERM'} pid {node.pid} (node {leader}), then start")
            node.kill() if self.hard else node.stop()
            _wait_until(lambda: topology.leader(where.topic, where.partition) not in (None, leader),
                        f"leadership of {where} to leave node {leader}")
            node.start()
            _wait_until(lambda: leader in topology.isr(where.topic, where.partition),
                        f"node {leader} to rejoin the ISR of {where}")
            bounced.append(leader)
        kind = "hard" if self.hard else "clean"
        return Injected(f"{kind} bounce of the leader of {where} x{self.times} (nodes {bounced})", bounced,
                        applied, lambda: restart_dead(env, env.cluster.node_ids))
