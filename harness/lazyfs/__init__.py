"""A filesystem that keeps unsynced writes apart, so a power loss can drop them (like Jepsen's
LazyFS): `journal` is what was written since each file's last fsync and how to undo it, `fs` the
FUSE passthrough that keeps the journal, `__main__` the daemon (`python -m harness.lazyfs`),
`mount` starting, finding and removing the daemons and their mounts."""
