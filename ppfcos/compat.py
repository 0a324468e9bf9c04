"""Where the Paddle releases ppfcos supports differ, one function per difference.

Supported: Paddle 2.6 (2.6.2 is the newest ``paddlepaddle-gpu`` on PyPI) and 3.0 to 3.3.
Everything else in ppfcos is written once for all of them; code that needs to know
which Paddle it runs on asks a function here, whose docstring says which versions
differ and how. ``import ppfcos`` refuses another Paddle (`check_paddle_version`) with an
UnsupportedPaddleError, which the tools print as one line.
"""
import re
import zlib


def bind_system_zlib():
    """Keep the process's zlib calls inside the system zlib (call before importing paddle).

    Paddle 2.6's libpaddle.so carries zlib 1.2.8 and exports its functions; the newer
    system zlib that Python's ``zlib`` module uses (1.2.13 on Debian 12) then calls Paddle's
    copy from its own ``inflateInit2_`` and the process dies ("Segmentation fault ...
    inflateReset2", Paddle issue 70538: on importing numpy.random, tracing a model, reading
    a gzip). One round trip through zlib before Paddle is loaded binds those calls inside
    the system library for the whole process. Paddle 3 ships zlib 1.3.1 and is unaffected;
    the round trip costs microseconds there."""
    zlib.decompress(zlib.compress(b"ppfcos"))


bind_system_zlib()

import paddle  # noqa: E402

from ppfcos_runtime.paddle_compat import UnsupportedPaddleError  # noqa: E402,F401  (raised here)

SUPPORTED = ((2, 6), (3, 0), (3, 1), (3, 2), (3, 3))
SUPPORTED_TEXT = (", ".join(f"{a}.{b}" for a, b in SUPPORTED[:-1])
                  + " or {}.{}".format(*SUPPORTED[-1]))
INSTALL_HINT = ("pip install paddlepaddle==3.3.1 (CPU), or paddlepaddle-gpu==2.6.2 from PyPI "
                "(3.x GPU builds: https://www.paddlepaddle.org.cn/install/quick)")


def paddle_version(version=None):
    """(major, minor) of ``version`` (default: the installed Paddle's ``__version__``).

    Develop builds report 0.0.0 and count as the newest supported release."""
    text = paddle.__version__ if version is None else version
    match = re.match(r"(\d+)\.(\d+)", text)
    if match is None:
        raise UnsupportedPaddleError(f"cannot read Paddle's version {text!r}")
    major, minor = int(match.group(1)), int(match.group(2))
    return SUPPORTED[-1] if (major, minor) == (0, 0) else (major, minor)


def check_paddle_version(version=None):
    """UnsupportedPaddleError (one line: the found and the supported versions, how to
    install one) unless ``version`` (default: the installed one) is supported."""
    text = paddle.__version__ if version is None else version
    if paddle_version(text) not in SUPPORTED:
        raise UnsupportedPaddleError(f"ppfcos supports Paddle {SUPPORTED_TEXT}; this is Paddle "
                                     f"{text}. Install a supported one: {INSTALL_HINT}")


# (major, minor) of the installed Paddle, read once (ppfcos/__init__ checks it is supported).
INSTALLED = paddle_version()


def writes_pir_programs():
    """Whether ``paddle.jit.save`` writes a PIR program (``model.json``): Paddle 3.x.
    Paddle 2.6 writes a ProgramDesc (``model.pdmodel``)."""
    return INSTALLED >= (3, 0)


def in_legacy_static_graph():
    """Whether code is being traced into a 2.x ProgramDesc (static mode on Paddle 2.6, or
    PIR switched off), where ``_C_ops`` functions cannot be called and ops are appended to
    the program instead. Dygraph and PIR programs (Paddle 3) take ``_C_ops`` calls."""
    if paddle.in_dynamic_mode():
        return False
    return not paddle.framework.in_pir_mode()


def multiclass_nms3(boxes, scores, score_threshold, nms_top_k, keep_top_k, nms_threshold,
                    normalized, nms_eta, background_label):
    """Paddle's ``multiclass_nms3`` kernel: boxes [N, M, 4], scores [N, C, M] ->
    (out [K, 6], bbox_num [N] int32).

    Dygraph and PIR (Paddle 3) call ``_C_ops.multiclass_nms3``; a 2.x ProgramDesc has no
    such call ("must be OpResult, but got Variable") and gets the op appended."""
    if not in_legacy_static_graph():
        out, _, bbox_num = paddle._C_ops.multiclass_nms3(   # positional only on Paddle 2.6
            boxes, scores, None, score_threshold, nms_top_k, keep_top_k, nms_threshold,
            normalized, nms_eta, background_label)
        return out, bbox_num
    attrs = dict(score_threshold=score_threshold, nms_top_k=nms_top_k, keep_top_k=keep_top_k,
                 nms_threshold=nms_threshold, normalized=normalized, nms_eta=nms_eta,
                 background_label=background_label)
    from paddle.base.layer_helper import LayerHelper
    helper = LayerHelper("multiclass_nms3")
    out = helper.create_variable_for_type_inference(boxes.dtype)
    index = helper.create_variable_for_type_inference("int32")
    bbox_num = helper.create_variable_for_type_inference("int32")
    helper.append_op(type="multiclass_nms3", inputs={"BBoxes": boxes, "Scores": scores},
                     outputs={"Out": out, "Index": index, "NmsRoisNum": bbox_num}, attrs=attrs)
    return out, bbox_num


def sum_all(x):
    """The sum of every element of ``x``, 0 for an empty ``x``: a 0-d tensor.

    Paddle 2.6 refuses to reduce an empty tensor ("Tensor need be reduced must not
    empty"); 3.x returns 0. A zero appended to the flattened tensor gives 0 on both."""
    if INSTALLED >= (3, 0):
        return x.sum()
    return paddle.concat([x.flatten(), paddle.zeros([1], x.dtype)]).sum()



def paddle2onnx_without_optimizer(paddle2onnx):
    """The keyword arguments of ``paddle2onnx.export`` that turn its graph optimizer off.

    paddle2onnx 2.x (for Paddle 3) takes ``optimize_tool="none"``; 1.x (the one for Paddle
    2.6: 2.x refuses Paddle < 3) has ``enable_optimize`` instead."""
    if paddle2onnx.__version__.startswith("1."):
        return {"enable_optimize": False}
    return {"optimize_tool": "none"}


def paddle2onnx_max_opset(paddle2onnx):
    """The highest ONNX opset ``paddle2onnx`` writes: 18 for 1.x (it aborts the process
    when an operator needs more, as deformable_conv's DeformConv needs 19), 21 for 2.x."""
    return 18 if paddle2onnx.__version__.startswith("1.") else 21
