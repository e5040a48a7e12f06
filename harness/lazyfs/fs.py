"""The FUSE passthrough over a backing directory that keeps a `Journal` of unsynced writes.

Every operation goes straight to the backing directory; writes and truncations go through the
journal, which keeps what they overwrite; fsync tells it the file is safe. Built on mfusepy
(ctypes bindings for libfuse 3's high-level API)."""

from __future__ import annotations

import errno
import os

import mfusepy as fuse

from harness.lazyfs.journal import Journal


def _os_errors(method):
    def wrapped(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except OSError as exc:
            raise fuse.FuseOSError(exc.errno or errno.EIO) from None

    wrapped.__name__ = method.__name__
    return wrapped


class LazyFS(fuse.Operations):
    use_ns = True

    def __init__(self, journal: Journal):
        self.journal = journal
        self.path = journal.backing

    # ---- metadata: straight through, durable at once ------------------------------------------

    @_os_errors
    def getattr(self, path, fh=None):
        st = os.fstat(fh) if fh is not None and path is None else os.lstat(self.path(path))
        return {key: getattr(st, key) for key in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino",
                                                  "st_blocks", "st_blksize")} | {
            "st_atime": st.st_atime_ns, "st_mtime": st.st_mtime_ns, "st_ctime": st.st_ctime_ns}

    @_os_errors
    def access(self, path, amode):
        if not os.access(self.path(path), amode):
            raise fuse.FuseOSError(errno.EACCES)
        return 0

    @_os_errors
    def readdir(self, path, fh):
        return [".", "..", *os.listdir(self.path(path))]

    @_os_errors
    def mkdir(self, path, mode):
        return os.mkdir(self.path(path), mode)

    @_os_errors
    def rmdir(self, path):
        return os.rmdir(self.path(path))

    @_os_errors
    def unlink(self, path):
        os.unlink(self.path(path))
        self.journal.removed(path)

    @_os_errors
    def rename(self, old, new):
        os.rename(self.path(old), self.path(new))
        self.journal.renamed(old, new)

    @_os_errors
    def chmod(self, path, mode):
        return os.chmod(self.path(path), mode)

    @_os_errors
    def chown(self, path, uid, gid):
        return os.chown(self.path(path), uid, gid)

    @_os_errors
    def utimens(self, path, times=None):
        return os.utime(self.path(path), ns=times)

    @_os_errors
    def statfs(self, path):
        st = os.statvfs(self.path(path))
        return {key: getattr(st, key) for key in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                                                  "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}

    @_os_errors
    def symlink(self, target, source):
        return os.symlink(source, self.path(target))

    @_os_errors
    def readlink(self, path):
        return os.readlink(self.path(path))

    # ---- files: the journal sees every write, truncation and sync -----------------------------

    @staticmethod
    def _flags(flags: int) -> int:
        """Backing files open read-write when written (the journal reads what a write overwrites),
        never O_APPEND (pwrite at the offset the kernel gives), never O_TRUNC (truncate does that)."""
        if flags & os.O_ACCMODE != os.O_RDONLY:
            flags = flags & ~os.O_ACCMODE | os.O_RDWR
        return flags & ~(os.O_APPEND | os.O_TRUNC | os.O_CREAT | os.O_EXCL)

    @_os_errors
    def open(self, path, flags):
        if flags & os.O_TRUNC:
            self.truncate(path, 0)
        return os.open(self.path(path), self._flags(flags))

    @_os_errors
    def create(self, path, mode, fi=None):
        fd = os.open(self.path(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
        self.journal.created(path)
        return fd

    @_os_errors
    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    @_os_errors
    def write(self, path, data, offset, fh):
        return self.journal.write(path, fh, data, offset)

    @_os_errors
    def truncate(self, path, length, fh=None):
        if path is None:  # an unlinked file (mfusepy passes no handle to truncate)
            raise fuse.FuseOSError(errno.ENOENT)
        self.journal.truncate(path, length)

    def flush(self, path, fh):
        return 0  # close() is not a sync

    @_os_errors
    def release(self, path, fh):
        return os.close(fh)

    def fsync(self, path, datasync, fh):
        self.journal.synced(path)  # durable now: no need to fsync the backing file itself
        return 0

    def fsyncdir(self, path, datasync, fh):
        return 0  # metadata is durable at once

    def opendir(self, path):
        return 0

    def releasedir(self, path, fh):
        return 0
