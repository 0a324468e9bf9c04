"""The edge profile's model.onnx (`ppfcos.export.edge`): made static and checked.

onnx.py converts an edge export like the decoded form (the whole program, outputs named
``boxes`` and ``scores``); `make_static` then folds every image-independent node into
constants (onnx_folding.py: paddle2onnx's Shape -> Slice -> Reshape chains, Constant and
Identity nodes) and checks, before anything is written, that no node depends on the data
or a runtime shape and that every tensor has a fixed shape (`check_static_onnx`).

The opset is onnx.py's DEFAULT_OPSET, 13: the lowest paddle2onnx writes, inside what the
common NPU toolchains read (RKNN-Toolkit2 1.6 reads 12 to 19 and 2.x up to 15; TensorRT's
parser reads 9 and up). `onnx_op_types` lists the operator types of the file written: the
list to compare with an NPU's supported operators.
"""
import collections

from onnx import load, shape_inference

from .onnx_folding import fold_constants
from .static_shapes import ADVICE, StaticShapeError

# ONNX operators whose output depends on the data or a runtime shape, and control flow:
# NPU compilers take none of them.
DYNAMIC_ONNX_OPS = {"NonMaxSuppression", "NonZero", "Shape", "Size", "Unique", "Compress",
                    "If", "Loop", "Scan"}


def make_static(model):
    """Fold ``model`` (an onnx.ModelProto of an edge export, changed in place) to constants
    and check it static (StaticShapeError naming the node and tensor otherwise)."""
    fold_constants(model)
    check_static_onnx(model)


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
