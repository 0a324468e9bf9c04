"""The files of an exported model directory, by name (ppfcos's exporter writes them under
these names, and the backends' capability table says which of them each backend reads).

``tools/export_model.py`` writes ``model.json`` (Paddle 3's PIR program; older Paddle
writes ``model.pdmodel``) and ``model.pdiparams`` (the ``paddle`` backend's),
``model.onnx`` with ``--export_onnx`` or ``tools/export_onnx.py`` (``onnxruntime`` and
``openvino``), ``model_int8.onnx`` with ``--quantize int8`` (their ``--precision int8``)
and ``infer_cfg.yml`` (the preprocessing and labels, every backend's).
"""
import os
from dataclasses import dataclass

ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
INFER_CFG_FILE = "infer_cfg.yml"


@dataclass(frozen=True)
class ModelFile:
    """One file of an export: ``field``, the ExportedModel attribute that holds its path;
    ``names``, the names it may have (the first that exists is used); ``hint``, how to
    write it when it is missing ("" when the export itself is missing)."""
    field: str
    names: tuple
    hint: str = ""


PROGRAM = ModelFile("program", ("model.json", "model.pdmodel"))
PARAMS = ModelFile("params", ("model.pdiparams",))
ONNX = ModelFile("onnx", (ONNX_FILE,), "write it with tools/export_onnx.py --model_dir DIR, "
                                       "or tools/export_model.py --export_onnx")
ONNX_INT8 = ModelFile("onnx_int8", (INT8_FILE,), "export it with tools/export_model.py ... "
                                                  "--quantize int8 --calib_dir DIR")
MODEL_FILES = (PROGRAM, PARAMS, ONNX, ONNX_INT8)


def find(model_dir, model_file):
    """The path of ``model_file`` (a ModelFile) in ``model_dir``, or None if absent."""
    return next((os.path.join(model_dir, name) for name in model_file.names
                 if os.path.isfile(os.path.join(model_dir, name))), None)


def model_paths(model_dir):
    """{field: path or None} of every MODEL_FILES file in ``model_dir`` (ExportedModel's
    file fields)."""
    return {model_file.field: find(model_dir, model_file) for model_file in MODEL_FILES}


def describe_missing(model_file):
    """'model.json or model.pdmodel', with the hint in parentheses when there is one."""
    names = " or ".join(model_file.names)
    return f"{names} ({model_file.hint})" if model_file.hint else names
