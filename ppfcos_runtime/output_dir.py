"""An output folder that may hold the user's own files: a run replaces only what runs of
the tool wrote there.

Each file a run writes into the folder (annotated images, videos, bbox.json,
benchmark.json) is recorded in ``<output_dir>/.ppfcos_outputs.jsonl``, one JSON line
per file: ``{"file": name, "sha256": digest}``. Before writing anything, a run refuses
the folder if a file it is going to write is there and is not, byte for byte, one that
an earlier run recorded: the user's bbox.json or a photo of the same name as an input.
Rerunning into the same folder, as PaddleDetection users do, replaces the earlier
outputs; the folder's other files are never touched. ``deploy/python/infer.py`` and
``tools/infer.py`` both write through it.
"""
import hashlib
import json
import os

from .errors import DeployError

RECORD = ".ppfcos_outputs.jsonl"


def unique_name(name, used):
    """``name``, or name_1, name_2, ... if it is in ``used`` (names taken by earlier inputs
    of a run, from several folders); the result is added to ``used``."""
    stem, ext = os.path.splitext(name)
    candidate, k = name, 1
    while candidate in used:
        candidate, k = f"{stem}_{k}{ext}", k + 1
    used.add(candidate)
    return candidate


def output_names(paths):
    """{input path: output file name} in the order of ``paths``: each input's base name,
    made unique by `unique_name`. Named before the run, so that a skipped
    (unreadable) input changes no other input's name."""
    used = set()
    return {path: unique_name(os.path.basename(path), used) for path in paths}


def file_sha256(path):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class OutputFolder:
    """The folder ``path`` that a run writes into (see the module docstring); ``flag``
    names it in errors (``--output_dir``)."""

    def __init__(self, path, flag="--output_dir"):
        self.path = path
        self.flag = flag

    def recorded(self):
        """{file name: SHA-256} of the files earlier runs wrote (the last record of each);
        unreadable lines are skipped, so their files count as the user's."""
        records = {}
        try:
            with open(os.path.join(self.path, RECORD), encoding="utf-8") as f:
                lines = f.readlines()
        except (FileNotFoundError, NotADirectoryError):
            return records
        for line in lines:
            try:
                record = json.loads(line)
                records[str(record["file"])] = str(record["sha256"])
            except (ValueError, TypeError, KeyError):
                continue
        return records

    def check(self, names):
        """DeployError, before anything is written, if the folder holds a file of
        ``names`` (the files the run will write) that no earlier run wrote as it is."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise DeployError(f"{self.flag} {self.path} is a file: give a folder")
        recorded = self.recorded()
        foreign = [name for name in dict.fromkeys(names)
                   if os.path.lexists(os.path.join(self.path, name))
                   and recorded.get(name) != self._digest(name)]
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" (+{len(foreign) - 5} more)"
                                              if len(foreign) > 5 else "")
            raise DeployError(f"{self.flag} {self.path} holds {shown}, which this run would "
                              f"replace and no earlier run wrote: move them, or choose "
                              f"another {self.flag}")

    def wrote(self, name):
        """Record that the run wrote the folder's file ``name``; returns its path."""
        path = os.path.join(self.path, name)
        line = json.dumps({"file": name, "sha256": file_sha256(path)})
        with open(os.path.join(self.path, RECORD), "a", encoding="utf-8") as f:
            f.write(line + "\n")
        return path

    def _digest(self, name):
        path = os.path.join(self.path, name)
        return file_sha256(path) if os.path.isfile(path) else None
