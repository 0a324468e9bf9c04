"""Writing files so that a crash or a kill never leaves a half-written one in place.

Temporary files and folders are named ``<final name>.<marker>-<pid>`` (markers
``tmp``, ``part``, ``old``), so that `remove_stale_temporaries` can tell
the leftovers of a killed process from those of a live one.
"""
import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import resource
import shutil

_TEMPORARY = re.compile(r"\.(tmp|part|old)-(\d+)$")
# A write that failed for want of room: the disk is full, the user's quota is used up,
# or the file would pass the process's file size limit (``ulimit -f``).
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFull(Exception):
    """A file could not be written for want of room (see NO_ROOM); the message names it.
    Raised by atomic_path and atomic_dir, whose target keeps its previous content."""


@contextlib.contextmanager
def _disk_full_names(path, tmp):
    """Turn an OSError of NO_ROOM in the block into DiskFull naming the file of ``path``
    that could not be written (the block writes ``tmp``, the temporary of ``path``)."""
    try:
        yield
    except OSError as e:
        if e.errno not in NO_ROOM:
            raise
        name = os.path.abspath(os.fsdecode(e.filename)) if e.filename else tmp
        if name == tmp or name.startswith(tmp + os.sep):
            name = path + name[len(tmp):]
        raise DiskFull(f"could not write {name}: {e.strerror}") from None


def check_written(directory):
    """OSError (ENOSPC or EFBIG, naming the file) when the files of ``directory`` may
    have been cut short without an error: the filesystem holding it has no free block
    left, or a file reached the process's file size limit. For writers that ignore
    write errors (``paddle.jit.save`` silently truncates ``model.pdiparams``)."""
    stats = os.statvfs(directory)
    if (stats.f_bfree if os.geteuid() == 0 else stats.f_bavail) == 0:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), directory)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit == resource.RLIM_INFINITY:
        return
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.getsize(path) >= limit:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), path)


@contextlib.contextmanager
def atomic_path(path, suffix="tmp"):
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block completes.

    On any error (or KeyboardInterrupt) the temporary file is removed and ``path``
    keeps its previous content, if it had one; DiskFull names ``path`` when the disk
    has no room for it.
    """
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{suffix}-{os.getpid()}"
    try:
        with _disk_full_names(path, tmp):
            yield tmp
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def _exchange(a, b):
    """Swap the paths ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False where the system cannot (another OS, an old kernel or filesystem).
    """
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), a)


def _restore_stranded(path):
    """Put back ``path.old-<pid>`` left by a process killed between the two renames of
    `atomic_dir`'s fallback, when ``path`` itself is missing."""
    if os.path.exists(path):
        return
    parent, name = os.path.split(os.path.abspath(path))
    for entry, of_name, kind in _dead_temporaries(parent):
        if kind == "old" and of_name == name:
            os.replace(os.path.join(parent, entry), path)
            return


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary directory next to ``path``; it replaces ``path`` if the block
    completes, else it is removed and ``path`` is left as it was.

    The replacement swaps the two directories in one step where the system can, so
    that at every moment ``path`` holds either the old or the new content;
    elsewhere it takes two renames, and the next call puts back an old directory
    stranded by a kill between them. Temporaries of killed calls are removed.
    DiskFull names the file of ``path`` that the disk had no room for.
    """
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _restore_stranded(path)
    remove_stale_temporaries(os.path.dirname(path), stem=os.path.basename(path) + ".")
    tmp, old = f"{path}.tmp-{os.getpid()}", f"{path}.old-{os.getpid()}"
    _remove(tmp)
    os.makedirs(tmp)
    try:
        with _disk_full_names(path, tmp):
            yield tmp
        if not os.path.exists(path):
            os.replace(tmp, path)
        elif not _exchange(tmp, path):   # tmp now holds the old content
            os.replace(path, old)
            os.replace(tmp, path)
    finally:
        _remove(tmp)
        _remove(old)


def _pid_alive(pid):
    """Whether a process with this id runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def remove_stale_temporaries(directory, stem=""):
    """Remove ``<name>.tmp-<pid>`` / ``.part-<pid>`` / ``.old-<pid>`` entries of
    processes that no longer run (saves, exports, downloads killed midway).

    stem: only entries whose name starts with it. Returns the removed paths.
    """
    if not os.path.isdir(directory):
        return []
    removed = []
    for entry, _, _ in _dead_temporaries(directory):
        if entry.startswith(stem):
            _remove(os.path.join(directory, entry))
            removed.append(os.path.join(directory, entry))
    return removed


def _dead_temporaries(directory):
    """(entry, the name it stands in for, 'tmp'|'part'|'old') for each
    ``<name>.<kind>-<pid>`` in ``directory`` whose process no longer runs, by name."""
    for entry in sorted(os.listdir(directory)):
        match = _TEMPORARY.search(entry)
        if match and not _pid_alive(int(match.group(2))):
            yield entry, entry[:match.start()], match.group(1)


class DirectoryBusy(RuntimeError):
    """Another live process holds the directory's lock."""


@contextlib.contextmanager
def exclusive_lock(directory, name=".lock"):
    """Hold ``directory/name`` locked (``flock``) for the block; the file records our pid.

    The kernel drops the lock when its process ends, so a killed run never leaves
    it stuck. Raises DirectoryBusy, naming the holder's pid, if another process
    holds it.
    """
    os.makedirs(directory, exist_ok=True)
    lock_path = os.path.join(directory, name)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise DirectoryBusy(f"{directory} is in use by another run (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield lock_path
    finally:
        os.close(fd)


def write_json(obj, path):
    """``json.dump(obj)`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
