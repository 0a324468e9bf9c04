"""Writing files so that a crash or a kill never leaves a half-written one in place."""
import contextlib
import json
import os
import shutil


@contextlib.contextmanager
def atomic_path(path, suffix="tmp"):
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block completes.

    On any error (or KeyboardInterrupt) the temporary file is removed and ``path``
    keeps its previous content, if it had one.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{suffix}-{os.getpid()}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary directory next to ``path``; it replaces ``path`` if the block
    completes, else it is removed and ``path`` is left as it was."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = f"{os.path.abspath(path)}.tmp-{os.getpid()}"
    old = f"{os.path.abspath(path)}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        yield tmp
        if os.path.exists(path):
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def write_json(obj, path):
    """``json.dump(obj)`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
