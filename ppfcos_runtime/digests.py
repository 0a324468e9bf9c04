"""What an export records of its model files, and the check of that record at load.

ppfcos's exporter writes, into ``infer_cfg.yml``, the class count and the size and
sha256 of each model file it writes (tools/export_onnx.py and ``--quantize`` add theirs
when they write model.onnx and model_int8.onnx)::

    num_classes: 80
    files:
      model.json: {bytes: 324481, sha256: 9f2c...}
      model.pdiparams: {bytes: 45165322, sha256: 41d0...}

A load checks the files the chosen backend reads against it, so a file damaged after
export (truncated, zeroed) or copied in from another export is one error naming it,
before any runtime reads it (hashing costs 0.2 to 0.25 s per 100 MB: docs/export_deploy.md).
Exports without ``files`` (PaddleDetection's, ppfcos's before it) are checked only for
empty files.
"""
import hashlib
import os

from .errors import DeployError

FILES_KEY = "files"
REEXPORT = "export the model again with tools/export_model.py"
CHUNK_BYTES = 1 << 20


def file_record(path):
    """{"bytes": size, "sha256": hex digest} of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return {"bytes": os.path.getsize(path), "sha256": digest.hexdigest()}


def recorded_files(cfg_path, cfg):
    """infer_cfg's ``files`` record as {file name: {"bytes", "sha256"}}, or None for an
    export without one; DeployError naming ``cfg_path`` if it is malformed."""
    records = cfg.get(FILES_KEY)
    if records is None:
        return None
    well_formed = isinstance(records, dict) and all(
        isinstance(r, dict) and isinstance(r.get("bytes"), int) and isinstance(
            r.get("sha256"), str) for r in records.values())
    if not well_formed:
        raise DeployError(f"{cfg_path}: {FILES_KEY} must map each model file to its bytes and "
                          f"sha256, got {records!r}; {REEXPORT}")
    return records


def check_file(path, records, cfg_path, hint=REEXPORT):
    """DeployError unless the file at ``path`` is not empty and, when ``records`` (see
    recorded_files) is not None, has the size and sha256 recorded for its name.
    ``hint``: how to write the file again."""
    size = os.path.getsize(path)
    if size == 0:
        raise DeployError(f"{path} is empty: {hint}")
    if records is None:
        return
    name = os.path.basename(path)
    record = records.get(name)
    if record is None:
        raise DeployError(f"{path} is not one of the files {cfg_path} records ("
                          f"{', '.join(sorted(records)) or 'none'}), so it was not written "
                          f"for this export: {hint}")
    if size != record["bytes"]:
        raise DeployError(f"{path} has {size} bytes where {cfg_path} records "
                          f"{record['bytes']}: it is damaged or comes from another export; "
                          f"{hint}")
    if file_record(path)["sha256"] != record["sha256"]:
        raise DeployError(f"{path} differs from the sha256 {cfg_path} records for it: it is "
                          f"damaged or comes from another export; {hint}")
