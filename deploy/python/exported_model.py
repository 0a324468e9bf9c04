"""An exported model directory: its program, parameters and ``infer_cfg.yml``.

``tools/export_model.py`` writes ``model.json`` (Paddle 3's PIR program; older Paddle
writes ``model.pdmodel``), ``model.pdiparams`` (both read by the ``paddle`` backend),
``model.onnx`` with ``--export_onnx`` or ``tools/export_onnx.py`` (read by the
``onnxruntime`` and ``openvino`` backends), ``model_int8.onnx`` with ``--quantize int8``
(``--precision int8``) and ``infer_cfg.yml`` in PaddleDetection's layout::

    draw_threshold: 0.5
    min_subgraph_size: 16
    Preprocess:                 # applied in order to each RGB image
    - {type: ToBGR}             # only for models reading BGR (caffe-style backbones)
    - {type: Resize, target_size: [800, 1333], keep_ratio: true, interp: 1}
    - {type: Permute}
    - {type: PadStride, stride: 128}
    label_list: [person, bicycle, ...]
    category_ids: [1, 2, ...]   # the dataset's category id of each class (ppfcos's key)
    decode_dtype: float64       # the program decodes boxes in float64 (ppfcos's key)
"""
import os
from dataclasses import dataclass

import yaml

from .errors import DeployError

PROGRAM_FILES = ("model.json", "model.pdmodel")
PARAMS_FILE = "model.pdiparams"
ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
INFER_CFG_FILE = "infer_cfg.yml"
# The model files each backend reads: per file, the names it may have.
BACKEND_FILES = {"paddle": [PROGRAM_FILES, (PARAMS_FILE,)], "onnxruntime": [(ONNX_FILE,)],
                 "openvino": [(ONNX_FILE,)]}
ONNX_HINT = ("write it with tools/export_onnx.py --model_dir DIR, or tools/export_model.py "
             "--export_onnx")


@dataclass(frozen=True)
class ExportedModel:
    """What a predictor needs from an exported model directory.

    program, params: paths of the Paddle program and parameter files (None if absent).
    onnx: path of model.onnx (None if absent).
    onnx_int8: path of model_int8.onnx (None if absent).
    preprocess: infer_cfg's ``Preprocess`` list of ``{type: Name, arg: value, ...}``.
    label_list: class names by class index (may be empty).
    category_ids: the dataset's category id by class index (empty in exports without
        them: bbox.json then gives class indices).
    use_dynamic_shape: False when the program's image input has a fixed H and W.
    draw_threshold: the default score threshold for drawing and saving.
    min_subgraph_size: the smallest subgraph TensorRT takes over.
    decode_dtype: the dtype the program decodes boxes and scores in ("float32" when
        infer_cfg does not say: PaddleDetection's exports and older ppfcos ones).
    """
    program: str
    params: str
    onnx: str
    onnx_int8: str
    preprocess: list
    label_list: list
    category_ids: list
    use_dynamic_shape: bool
    draw_threshold: float
    min_subgraph_size: int
    decode_dtype: str = "float32"


def load_exported_model(model_dir, backend="paddle"):
    """Check ``model_dir`` holds an exported model with the files ``backend`` reads
    (BACKEND_FILES) and read its ``infer_cfg.yml``.

    Raises DeployError naming the directory, or exactly the files it lacks.
    """
    if not os.path.isdir(model_dir):
        raise DeployError(f"model directory not found: {model_dir} (export a model with "
                          f"tools/export_model.py)")

    def existing(names):
        return next((os.path.join(model_dir, name) for name in names
                     if os.path.isfile(os.path.join(model_dir, name))), None)
    missing = [" or ".join(names) for names in BACKEND_FILES[backend] + [(INFER_CFG_FILE,)]
               if existing(names) is None]
    if missing:
        hint = f" ({ONNX_HINT})" if ONNX_FILE in missing else ""
        raise DeployError(f"{model_dir} is not a complete exported model for the {backend} "
                          f"backend: missing {', '.join(missing)}{hint}")
    path = os.path.join(model_dir, INFER_CFG_FILE)
    cfg = read_infer_cfg(path)
    try:
        threshold = float(cfg.get("draw_threshold", 0.5))
        min_subgraph_size = int(cfg.get("min_subgraph_size", 3))
    except (TypeError, ValueError):
        raise DeployError(f"{path}: draw_threshold and min_subgraph_size must be numbers, got "
                          f"{cfg.get('draw_threshold')!r}, {cfg.get('min_subgraph_size')!r}"
                          ) from None
    return ExportedModel(program=existing(PROGRAM_FILES), params=existing((PARAMS_FILE,)),
                         onnx=existing((ONNX_FILE,)), onnx_int8=existing((INT8_FILE,)),
                         preprocess=cfg["Preprocess"],
                         label_list=[str(name) for name in cfg.get("label_list") or []],
                         category_ids=category_ids(path, cfg),
                         use_dynamic_shape=bool(cfg.get("use_dynamic_shape", True)),
                         draw_threshold=threshold, min_subgraph_size=min_subgraph_size,
                         decode_dtype=str(cfg.get("decode_dtype", "float32")))


def category_ids(path, cfg):
    """infer_cfg's ``category_ids`` as ints ([] when absent); DeployError if malformed."""
    ids = cfg.get("category_ids") or []
    try:
        return [int(i) for i in ids]
    except (TypeError, ValueError):
        raise DeployError(f"{path}: category_ids must be a list of integers, got {ids!r}"
                          ) from None


def read_infer_cfg(path):
    """The mapping in ``infer_cfg.yml``, with ``Preprocess`` a list of mappings with a ``type``."""
    try:
        with open(path) as f:
            cfg = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise DeployError(f"cannot read {path}: {e}") from None
    if not isinstance(cfg, dict):
        raise DeployError(f"{path}: expected a mapping of settings, got {type(cfg).__name__}")
    steps = cfg.get("Preprocess")
    if not isinstance(steps, list) or not all(isinstance(s, dict) and "type" in s for s in steps):
        raise DeployError(f"{path}: Preprocess must be a list of {{type: Name, ...}} steps, "
                          f"got {steps!r}")
    labels = cfg.get("label_list")
    if labels is not None and not isinstance(labels, list):
        raise DeployError(f"{path}: label_list must be a list of class names, got {labels!r}")
    return cfg


def onnx_model_file(model, precision):
    """The ONNX file that runs ``precision``: model_int8.onnx for int8, else model.onnx;
    DeployError naming --quantize int8 when the export has no int8 model."""
    if precision != "int8":
        return model.onnx
    if model.onnx_int8 is None:
        raise DeployError(f"--precision int8: {os.path.dirname(model.onnx)} has no "
                          f"{INT8_FILE}; export it with tools/export_model.py ... --quantize "
                          f"int8 --calib_dir DIR")
    return model.onnx_int8
