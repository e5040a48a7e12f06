"""The disks capability, shared by the backends: each node's own tmpfs disk on this machine (full
disk), and a read-only bind mount of its log directory inside the node's own mount namespace.

A backend mixes `OwnDisks` in and provides `node(id)` and `nodes`; each node has `disk_dir` (its
own disk as this machine sees it), `mount_path` (its log directory as the node's process sees
it) and `pid`.
"""

from __future__ import annotations

from harness.mounts import bind_read_only, empty_disk, fill_disk, is_disk, unbind_read_only


class OwnDisks:
    def has_own_disk(self, node: int) -> bool:
        return is_disk(self.node(node).disk_dir)

    def fill_disk(self, node: int) -> str:
        disk = self.node(node).disk_dir
        return f"fallocate {fill_disk(disk)} bytes at {disk}"

    def empty_disk(self, node: int) -> bool:
        return empty_disk(self.node(node).disk_dir)

    def make_read_only(self, node: int) -> str:
        target = self.node(node)
        bind_read_only(target.pid, target.mount_path)
        return f"in the mount namespace of pid {target.pid}: mount --bind -o ro {target.mount_path} {target.mount_path}"

    def make_writable(self, node: int) -> bool:
        """Undo make_read_only (a node that died took its mounts with it): only the read-only
        mounts on top go. Under them may be the node's own (a container's data volume, a lazyfs
        mount), and taking one from a node that is starting would hide its data from it."""
        target = self.node(node)
        return target.pid is not None and unbind_read_only(target.pid, target.mount_path)

    def sweep_disks(self) -> list[str]:
        done = [f"emptied the disk of node {n}" for n in self.nodes if self.empty_disk(n)]
        return done + [f"remounted node {n}'s log directory read-write" for n in self.nodes if self.make_writable(n)]
