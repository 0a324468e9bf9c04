"""model.onnx of an edge export (`ppfcos.export.edge`): the Paddle program converted by
paddle2onnx, its image-independent nodes folded into constants (onnx_folding.py), its
outputs named ``boxes`` and ``scores``, and checked static (`check_static_onnx`) before it
is written.

The opset is onnx.py's DEFAULT_OPSET, 13: the lowest paddle2onnx writes, inside what the
common NPU toolchains read (RKNN-Toolkit2 1.6 reads 12 to 19 and 2.x up to 15; TensorRT's
parser reads 9 and up). `onnx_op_types` lists the operator types of the file written: the
list to compare with an NPU's supported operators.
"""
import collections
import logging
import os

from onnx import checker, load, save, shape_inference
from ppfcos_runtime.model_files import ONNX_FILE

from ..core.files import atomic_path
from .infer_cfg import check_sources, record_model_file
from .onnx import (check_onnx_export, check_operators_convert, convert, group_norm_epsilons,
                   read_view, restore_group_norm_epsilons)
from .onnx_folding import fold_constants
from .program import program_file, static_mode
from .static_shapes import ADVICE, StaticShapeError

logger = logging.getLogger("ppfcos")

# The edge graph's outputs, in order (EdgeGraph.forward).
OUTPUT_NAMES = ("boxes", "scores")
# ONNX operators whose output depends on the data or a runtime shape, and control flow:
# NPU compilers take none of them.
DYNAMIC_ONNX_OPS = {"NonMaxSuppression", "NonZero", "Shape", "Size", "Unique", "Compress",
                    "If", "Loop", "Scan"}


def export_edge_onnx(model_dir, opset, output=None):
    """Convert the edge export in ``model_dir`` to ``output`` (default
    ``model_dir/model.onnx``), written only once complete and checked static, then recorded
    in infer_cfg.yml's ``files``; returns its path. StaticShapeError naming the node and
    tensor where the graph is not static."""
    program_file(model_dir)    # FileNotFoundError naming the directory
    check_sources(model_dir, "paddle")
    paddle2onnx, onnx = check_onnx_export(opset)
    output = output or os.path.join(model_dir, ONNX_FILE)
    with static_mode():
        view, _ = read_view(model_dir)
        check_operators_convert(view, paddle2onnx)
        epsilons = group_norm_epsilons(view)
    model = convert(paddle2onnx, onnx, os.path.join(model_dir, "model"), opset)
    restore_group_norm_epsilons(model, epsilons)
    fold_constants(model)
    name_outputs(model.graph, OUTPUT_NAMES)
    check_static_onnx(model)
    checker.check_model(model)
    with atomic_path(output) as tmp_file:
        save(model, tmp_file)
    logger.info("wrote %s (edge: %s)", output, ", ".join(
        f"{kind} {count}" for kind, count in onnx_op_types(output).most_common()))
    record_model_file(model_dir, output)
    return output


def name_outputs(graph, names):
    """Rename the graph's outputs (paddle2onnx's fetch_name_i) to ``names``, in order; an
    Identity that only copies a computed tensor to an output goes, its input renamed."""
    producers = {name: node for node in graph.node for name in node.output}
    computed = set(producers)
    renamed, dropped = {}, []
    for value, name in zip(graph.output, names):
        node = producers.get(value.name)
        if node is not None and node.op_type == "Identity" and node.input[0] in computed:
            renamed[node.input[0]] = name
            dropped.append(node)
        else:
            renamed[value.name] = name
        value.name = name
    for node in dropped:
        graph.node.remove(node)
    for node in graph.node:
        node.output[:] = [renamed.get(name, name) for name in node.output]
        node.input[:] = [renamed.get(name, name) for name in node.input]


def check_static_onnx(model):
    """StaticShapeError unless every node of ``model`` (an onnx.ModelProto) is static: no
    DYNAMIC_ONNX_OPS, and every output of every node of a fixed shape (onnx's strict shape
    inference)."""
    for node in model.graph.node:
        if node.op_type in DYNAMIC_ONNX_OPS:
            raise StaticShapeError(f"the edge ONNX graph is not static: node {node.name} "
                                   f"({node.op_type}) depends on the data or a runtime "
                                   f"shape; {ADVICE}")
    graph = shape_inference.infer_shapes(model, strict_mode=True).graph
    types = {value.name: value.type.tensor_type
             for value in list(graph.input) + list(graph.value_info) + list(graph.output)}
    for node in graph.node:
        for name in node.output:
            shape = tensor_dims(types.get(name))
            if shape is None or not all(isinstance(size, int) and size > 0 for size in shape):
                raise StaticShapeError(f"the edge ONNX graph is not static: node {node.name} "
                                       f"({node.op_type}) gives {name} of shape "
                                       f"{shape if shape is not None else 'unknown'}; {ADVICE}")


def tensor_dims(tensor_type):
    """The dims of an ONNX tensor type: ints where fixed, the symbol (or '?') where not;
    None when the shape is unknown."""
    if tensor_type is None or not tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in tensor_type.shape.dim]


def onnx_op_types(path):
    """{operator type: node count} of the ONNX file at ``path`` (a collections.Counter)."""
    return collections.Counter(node.op_type for node in load(path).graph.node)
