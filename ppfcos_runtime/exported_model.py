"""An exported model directory: its program, parameters, ONNX models and ``infer_cfg.yml``.

The files and which backend reads them: model_files.py and predictor.BACKENDS.
``infer_cfg.yml`` is in PaddleDetection's layout::

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
    num_classes: 80             # the classes the program scores (ppfcos's key)
    export_form: decoded        # full (when absent), decoded, raw or edge (ppfcos's keys:
    outputs: [boxes, scores]    #   host_postprocess.ExportForm); decoded and raw exports
    nms: {score_threshold: 0.025, ...}   # also record the NMS (and raw ones the decoding)
    files: {model.json: {bytes: ..., sha256: ...}, ...}   # ppfcos's key: digests.py

A load checks that the export tells one story: each model file the backend reads matches
its record in ``files`` (digests.py), the class lists agree with each other and with
``num_classes``, and every Preprocess step is one this predictor builds, with sizes in
range (preprocess.py). What is not there (PaddleDetection's exports have neither
``files`` nor ``num_classes``) is not compared.
"""
import os
from dataclasses import dataclass, replace

import yaml

from .digests import REEXPORT, check_file, recorded_files
from .errors import DeployError
from .host_postprocess import ExportForm
from .model_files import INFER_CFG_FILE, model_paths
from .predictor import backend_model_files, check_files
from .preprocess import Preprocessor


@dataclass(frozen=True)
class ExportedModel:
    """What a predictor needs from an exported model directory.

    program, params, onnx, onnx_int8: paths of model.json (or .pdmodel), model.pdiparams,
        model.onnx and model_int8.onnx (None where absent; model_files.MODEL_FILES).
    preprocess: infer_cfg's ``Preprocess`` list of ``{type: Name, arg: value, ...}``.
    label_list: class names by class index (may be empty).
    category_ids: the dataset's category id by class index (empty in exports without
        them: bbox.json then gives class indices).
    use_dynamic_shape: False when the program's image input has a fixed H and W.
    draw_threshold: the default score threshold for drawing and saving.
    min_subgraph_size: the smallest subgraph TensorRT takes over.
    decode_dtype: the dtype the program decodes boxes and scores in ("float32" when
        infer_cfg does not say: PaddleDetection's exports and older ppfcos ones).
    form: the host_postprocess.ExportForm: the program's outputs and what the host does
        with them (full: nothing, the default where infer_cfg does not say).
    model_dir: the directory, for messages.

    A model without infer_cfg.yml (ppfcos's temporary export of a model in training, an
    ONNX file alone) is built from its files:
    ``ExportedModel(model_dir=d, **model_files.model_paths(d))`` or ``ExportedModel(onnx=path)``.
    """
    program: str = None
    params: str = None
    onnx: str = None
    onnx_int8: str = None
    preprocess: list = ()
    label_list: list = ()
    category_ids: list = ()
    use_dynamic_shape: bool = True
    draw_threshold: float = 0.5
    min_subgraph_size: int = 3
    decode_dtype: str = "float32"
    form: ExportForm = ExportForm()
    model_dir: str = ""


def load_exported_model(model_dir, backend="paddle", precision="fp32"):
    """Check ``model_dir`` holds an exported model with the files ``backend`` reads at
    ``precision`` (predictor.BACKENDS) and read its ``infer_cfg.yml``.

    Raises DeployError naming the directory, exactly the files it lacks, or the file
    and key that do not fit the rest of the export.
    """
    if not os.path.isdir(model_dir):
        raise DeployError(f"model directory not found: {model_dir} (export a model with "
                          f"tools/export_model.py)")
    files = ExportedModel(model_dir=model_dir, **model_paths(model_dir))
    path = os.path.join(model_dir, INFER_CFG_FILE)
    check_files(files, backend, precision, [] if os.path.isfile(path) else [INFER_CFG_FILE])
    cfg = read_infer_cfg(path)
    records = recorded_files(path, cfg)
    for model_file in backend_model_files(backend, precision):
        check_file(getattr(files, model_file.field), records, path, model_file.hint or REEXPORT)
    Preprocessor(cfg["Preprocess"], source=path)      # DeployError for a step that cannot run
    try:
        threshold = float(cfg.get("draw_threshold", 0.5))
        min_subgraph_size = int(cfg.get("min_subgraph_size", 3))
    except (TypeError, ValueError):
        raise DeployError(f"{path}: draw_threshold and min_subgraph_size must be numbers, got "
                          f"{cfg.get('draw_threshold')!r}, {cfg.get('min_subgraph_size')!r}"
                          ) from None
    label_list = [str(name) for name in cfg.get("label_list") or []]
    ids = category_ids(path, cfg)
    check_class_count(path, cfg.get("num_classes"), label_list, ids)
    return replace(files, preprocess=cfg["Preprocess"], label_list=label_list,
                   category_ids=ids,
                   use_dynamic_shape=bool(cfg.get("use_dynamic_shape", True)),
                   draw_threshold=threshold, min_subgraph_size=min_subgraph_size,
                   decode_dtype=str(cfg.get("decode_dtype", "float32")),
                   form=ExportForm.from_infer_cfg(cfg, path))


def category_ids(path, cfg):
    """infer_cfg's ``category_ids`` as ints ([] when absent); DeployError if malformed."""
    ids = cfg.get("category_ids") or []
    try:
        return [int(i) for i in ids]
    except (TypeError, ValueError):
        raise DeployError(f"{path}: category_ids must be a list of integers, got {ids!r}"
                          ) from None


def check_class_count(path, num_classes, label_list, ids):
    """DeployError naming infer_cfg.yml (``path``) unless its ``label_list`` and
    ``category_ids`` (each where given) have one entry per class: as many as each other
    and as ``num_classes`` (where given: the classes the program scores)."""
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(
            num_classes, int) or num_classes < 1):
        raise DeployError(f"{path}: num_classes must be a positive integer, got "
                          f"{num_classes!r}; {REEXPORT}")
    counts = {key: len(values) for key, values in
              (("label_list", label_list), ("category_ids", ids)) if values}
    if num_classes is not None:
        counts["num_classes"] = num_classes
    if len(set(counts.values())) > 1:
        told = ", ".join(f"{key} {count}" for key, count in counts.items())
        raise DeployError(f"{path}: the class counts disagree ({told}): every class needs "
                          f"one name and one category id; {REEXPORT}")


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
