"""Writing files so that a crash or a kill never leaves a half-written one in place."""
import contextlib
import json
import os


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


def write_json(obj, path):
    """``json.dump(obj)`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
