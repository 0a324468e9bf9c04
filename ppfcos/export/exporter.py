"""Export a trained model to a static inference model for Paddle Inference.

The exported directory holds the program (``model.json``, or ``model.pdmodel``
where Paddle writes that), ``model.pdiparams`` and ``infer_cfg.yml`` in
PaddleDetection's layout, so both ``deploy/python/infer.py`` and
PaddleDetection's own deploy tools run it.

``infer_cfg.yml`` also records the class count and each model file's size and sha256,
which deploy checks at load (ppfcos_runtime.digests).

The config's ``export:`` keys choose the graph's form (full, decoded: no NMS, raw: no
decoding) and whether batch norms are folded (ppfcos.export.forms); infer_cfg.yml records
the form, and the runtimes do the rest on the host.

The directory belongs to the export: a folder that holds anything else
(checkpoints, a user's files) is refused, never emptied. A new export replaces
the old one in one step, so a complete export is in place at every moment.
"""
import logging
import os

import paddle
from paddle.static import InputSpec
from ppfcos_runtime.digests import FILES_KEY
from ppfcos_runtime.host_postprocess import EDGE_FORM
from ppfcos_runtime.model_files import INFER_CFG_FILE

from ..core.config import ConfigError
from ..core.files import atomic_dir, check_written
from ..core.messages import excerpt
from .edge import (EDGE_DECODE_DTYPE, EdgeGraph, check_edge, edge_input_spec,
                   edge_preprocess)
from .forms import ExportOptions, export_form, export_options
from .graph import InferenceGraph, inference_model, normalize_as_affine
from .infer_cfg import (file_records, inference_config, preprocess_spec, static_image_shape,
                        write_infer_cfg)
from .static_shapes import check_static_program

logger = logging.getLogger("ppfcos")


def input_spec(image_hw=None, form="full"):
    """The program's inputs: ``image`` [-1, 3, H, W] (H, W = -1 for any size unless
    ``image_hw`` fixes them), ``im_shape`` and, but in the raw form, which does not
    rescale boxes, ``scale_factor`` [-1, 2]."""
    height, width = image_hw or (-1, -1)
    spec = [InputSpec([-1, 3, height, width], "float32", "image"),
            InputSpec([-1, 2], "float32", "im_shape")]
    return spec if form == "raw" else spec + [InputSpec([-1, 2], "float32", "scale_factor")]


def is_export_file(name):
    """Whether an export writes files of this name: ``infer_cfg.yml`` and ``model.*`` /
    ``model_*`` (the program, its parameters, model.onnx and other formats of the model)."""
    return name == INFER_CFG_FILE or name.startswith(("model.", "model_"))


def check_export_dir(output_dir):
    """ConfigError unless ``output_dir`` is missing, empty or an earlier export."""
    if not os.path.exists(output_dir):
        return
    if not os.path.isdir(output_dir):
        raise ConfigError(f"cannot export to {output_dir}: it is a file")
    foreign = sorted(name for name in os.listdir(output_dir) if not is_export_file(name))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" (+{len(foreign) - 5} more)" if len(foreign) > 5 else "")
        raise ConfigError(f"refusing to export into {output_dir}: it holds files that are not "
                          f"an export ({shown}), and an export replaces the whole folder; "
                          f"choose another --output_dir")


def export_model(model, cfg, output_dir, extras=(), edge_size=None):
    """Write ``model`` (weights loaded) as a static inference model to ``output_dir``.

    The program runs a copy of the model, in the form the config's ``export:`` keys ask
    for (ppfcos.export.forms), its batch norms folded into its convolutions unless
    ``export.fuse_conv_bn`` is false; ``model`` itself is unchanged. extras: functions
    called with the new export's directory before it replaces the old one, to add other formats
    (model.onnx). ``edge_size``: (H, W) of the edge profile (`ppfcos.export.edge`: image
    the only input, fixed shapes, no NMS), checked static before anything is kept. The
    directory is replaced only once everything is written, so an existing export
    survives a failed one. Returns ``output_dir``.
    """
    if cfg.get("architecture") != "FCOS":
        raise ConfigError(f"export supports architecture FCOS, got "
                          f"{excerpt(cfg.get('architecture'))}")
    check_export_dir(output_dir)
    options = export_options(cfg)
    reader = cfg.get("TestReader") or {}
    if edge_size is not None:
        check_edge(edge_size, reader, model, options)
        reader = {key: value for key, value in reader.items() if key != "inputs_def"}
    form = export_form(model, EDGE_FORM if edge_size is not None else options.form)
    preprocess, fused = preprocess_spec(reader)
    normalize = normalize_as_affine(fused) if fused is not None else None
    if edge_size is None:
        image_hw = static_image_shape(reader)
        infer_cfg = inference_config(cfg, preprocess, dynamic_shape=image_hw is None)
    else:
        infer_cfg = edge_inference_config(cfg, preprocess, fused, edge_size)
    infer_cfg = {**infer_cfg, **form.to_infer_cfg()}
    with atomic_dir(output_dir) as tmp:
        if edge_size is None:
            save_program(model, tmp, normalize, image_hw, options)
        else:
            save_graph(EdgeGraph(model, normalize, options.fuse_conv_bn),
                       edge_input_spec(edge_size), tmp)
            check_static_program(tmp)
        write_infer_cfg(tmp, {**infer_cfg, FILES_KEY: file_records(tmp)})
        for extra in extras:      # each records the file it writes (record_model_file)
            extra(tmp)
    logger.info("exported to %s", output_dir)
    return output_dir


def edge_inference_config(cfg, preprocess, fused, edge_size):
    """The infer_cfg.yml contents of an edge export (before its form's keys): the full
    export's, with the Letterbox preprocessing, a fixed shape and float32 decoding."""
    normalize_spec = fused if fused is not None else next(
        (step for step in preprocess if step["type"] == "NormalizeImage"), None)
    infer_cfg = inference_config(cfg, edge_preprocess(preprocess, normalize_spec, edge_size),
                                 dynamic_shape=False)
    return {**infer_cfg, "decode_dtype": EDGE_DECODE_DTYPE}


def save_program(model, model_dir, normalize=None, image_hw=None, options=ExportOptions()):
    """Write the InferenceGraph of ``model`` (on a copy) with `save_graph`. ``normalize``:
    (scale, shift) fused into the graph; ``image_hw``: a fixed (H, W) of the image input;
    ``options``: the ExportOptions (form, batch norms folded or not)."""
    graph = InferenceGraph(inference_model(model, options.fuse_conv_bn), normalize,
                           options.form)
    save_graph(graph, input_spec(image_hw, options.form), model_dir)


def save_graph(graph, spec, model_dir):
    """Write ``graph`` (an nn.Layer) traced with inputs ``spec`` as ``model_dir/model.json``
    (or .pdmodel) + ``model.pdiparams``. OSError (ENOSPC, EFBIG) when the disk or the file
    size limit cut a file short."""
    graph.eval()
    static = paddle.jit.to_static(graph, input_spec=spec, full_graph=True)
    paddle.jit.save(static, os.path.join(model_dir, "model"))
    check_written(model_dir)   # paddle.jit.save cuts a file short on a full disk, silently
