"""The edge profile's static-shape check, at export time rather than on the device.

NPU and edge compilers (nncase, RKNN-Toolkit2, TensorRT without plugins) need every
tensor's shape fixed when they compile, and reject operators whose output size depends
on the data (NonMaxSuppression, NonZero) or on a runtime shape (Shape). An edge export
(`ppfcos.export.edge`) is checked twice: the Paddle program when it is written
(`check_static_program`), and model.onnx after constant folding (onnx_edge.py). A
failure is one StaticShapeError line naming the operator and the tensor.
"""
from ..core.config import ConfigError
from .program import load_program, static_mode

# Paddle ops whose output size depends on the data or on a runtime shape.
DYNAMIC_PADDLE_OPS = {"multiclass_nms3", "shape", "shape64", "nonzero", "where_index",
                      "masked_select", "unique"}
ADVICE = ("the edge profile needs fixed shapes everywhere; export without --edge, or make "
          "the model's layers use fixed sizes")


class StaticShapeError(ConfigError):
    """An edge graph holds a dynamic shape or a shape-dependent operator; names both."""


def check_static_program(model_dir):
    """StaticShapeError unless every op of the Paddle program in ``model_dir`` is static:
    no DYNAMIC_PADDLE_OPS, and no tensor with a -1 dimension."""
    with static_mode():
        view, _ = load_program(model_dir)
        for index, op in enumerate(view.all_ops):
            kind = view.kind(op)
            if kind in DYNAMIC_PADDLE_OPS:
                raise StaticShapeError(f"the edge program is not static: op {index} "
                                       f"({kind}) depends on the data or a runtime shape; "
                                       f"{ADVICE}")
            for name, shape in view.output_shapes(op):
                if any(size < 0 for size in shape):
                    raise StaticShapeError(f"the edge program is not static: op {index} "
                                           f"({kind}) gives {name} of shape {shape}; {ADVICE}")
