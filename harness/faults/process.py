"""Process faults on Kafka nodes: kill, stop, pause, rolling restart, bouncing a leader."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tenacity import RetryError, Retrying, retry_if_exception_type, retry_if_result, stop_after_delay, wait_fixed

from harness.faults.base import Env, FaultError, FaultSpec, Injected, fault, node_list, restart_dead
from harness.faults.targets import Target, TopicName, TopicPartition

REJOIN_TIMEOUT_S = 120.0


def _wait_until(condition, what: str, timeout: float = REJOIN_TIMEOUT_S) -> None:
    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.2),
                        retry=retry_if_result(lambda ok: not ok) | retry_if_exception_type(Exception))
    try:
        retrying(condition)
    except RetryError:
        raise FaultError(f"gave up waiting {timeout:.0f} s for {what}") from None


def _take_down(env: Env, target: Target, signal_name: str, how) -> Injected:
    """Stop the target nodes with `how(node)`; healed by starting the dead ones again."""
    ids = target.resolve(env)
    pids = [env.cluster.node(i).pid for i in ids]
    for node_id in ids:
        how(env.cluster.node(node_id))
    return Injected(f"{signal_name} {node_list(ids)} ({target})", ids, [f"{signal_name} pid {p}" for p in pids],
                    lambda: restart_dead(env, ids))


@fault
class Kill(FaultSpec):
    """SIGKILL: no controlled shutdown, no flush. Healed by starting the node again."""

    fault: Literal["kill"] = "kill"
    target: Target

    def inject(self, env: Env) -> Injected:
        return _take_down(env, self.target, "SIGKILL", lambda node: node.kill())


@fault
class Stop(FaultSpec):
    """SIGTERM: a controlled shutdown. Healed by starting the node again."""

    fault: Literal["stop"] = "stop"
    target: Target

    def inject(self, env: Env) -> Injected:
        return _take_down(env, self.target, "SIGTERM", lambda node: node.stop())


@fault
class Pause(FaultSpec):
    """SIGSTOP: the node freezes with its sockets open (a GC pause, a hung VM). Healed by SIGCONT."""

    fault: Literal["pause"] = "pause"
    target: Target

    def inject(self, env: Env) -> Injected:
        ids = self.target.resolve(env)
        for node_id in ids:
            env.cluster.node(node_id).pause()

        def heal() -> str:
            for node_id in ids:
                if env.cluster.node(node_id).status == "paused":
                    env.cluster.node(node_id).resume()
            return f"SIGCONT {node_list(ids)}"

        pids = [env.cluster.node(i).pid for i in ids]
        return Injected(f"SIGSTOP {node_list(ids)} ({self.target})", ids, [f"SIGSTOP pid {p}" for p in pids], heal)


@fault
class RollingRestart(FaultSpec):
    """Every node in turn: stop (graceful unless hard), start, wait until nothing is
    under-replicated, then the next (seed scenario 34: a rolling upgrade)."""

    fault: Literal["rolling-restart"] = "rolling-restart"
    hard: bool = False
    topics: list[TopicName] = Field(default_factory=list,
                                    description="wait for these to be fully in sync between nodes")

    def inject(self, env: Env) -> Injected:
        applied = []
        for node_id in sorted(env.cluster.nodes):
            node = env.cluster.node(node_id)
            applied.append(f"{'SIGKILL' if self.hard else 'SIGTERM'} pid {node.pid}, then start")
            node.restart(graceful=not self.hard)
            env.events.record("fault", "progress", f"rolling restart: node {node_id} back")
            if self.topics:
                env.cluster.wait_in_sync(self.topics, REJOIN_TIMEOUT_S)
        ids = sorted(env.cluster.nodes)
        return Injected(f"rolling restart of {node_list(ids)}", ids, applied, lambda: restart_dead(env, ids))


@fault
class BounceLeader(FaultSpec):
    """kafkatest's hard_bounce / clean_bounce: `times` times, kill (or stop) the partition's
    current leader, start it again and wait until it is back in the ISR."""

    fault: Literal["bounce-leader"] = "bounce-leader"
    partition: TopicPartition
    times: int = Field(1, ge=1, le=100)
    hard: bool = True

    def inject(self, env: Env) -> Injected:
        applied, bounced = [], []
        target = Target(leader=self.partition)
        for _ in range(self.times):
            [leader] = target.resolve(env)
            node = env.cluster.node(leader)
            applied.append(f"{'SIGKILL' if self.hard else 'SIGTERM'} pid {node.pid} (node {leader}), then start")
            node.kill() if self.hard else node.stop()
            _wait_until(lambda: env.cluster.leader(self.partition.topic, self.partition.partition) not in (None, leader),
                        f"leadership of {self.partition} to leave node {leader}")
            node.start()
            _wait_until(lambda: leader in env.cluster.isr(self.partition.topic, self.partition.partition),
                        f"node {leader} to rejoin the ISR of {self.partition}")
            bounced.append(leader)
        kind = "hard" if self.hard else "clean"
        return Injected(f"{kind} bounce of the leader of {self.partition} x{self.times} (nodes {bounced})", bounced,
                        applied, lambda: restart_dead(env, sorted(env.cluster.nodes)))
