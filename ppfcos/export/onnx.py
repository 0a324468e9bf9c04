"""Convert an exported model directory to ONNX (``model.onnx``) for ONNX Runtime.

    export_onnx("output_inference/fcos_r50_fpn_1x_coco")   # writes .../model.onnx

The ONNX model has the exported program's inputs (``image`` [N, 3, H, W],
``im_shape`` [N, 2], ``scale_factor`` [N, 2], any N, H, W; the raw form has no
``scale_factor``) and outputs, named as infer_cfg.yml's ``outputs`` (a full export's
``bbox`` [K, 6] and ``bbox_num`` [N] int32; the decoded and raw forms' outputs:
ppfcos_runtime.host_postprocess), and gives the same detections as Paddle Inference.
paddle2onnx 2.1.0 converts the network and decoding; two of its
mappings give wrong numbers, so this module does not trust them:

- ``group_norm`` (PIR programs): the InstanceNormalization it emits carries a
  garbage ``epsilon`` (values like -0.07 or 0.03 instead of 1e-5), which moves
  the FCOS head's logits by up to ~1 and every score with them. The epsilons are
  set back from the program's ``group_norm`` ops.
- ``multiclass_nms3``: one image only, ``nms_top_k`` applied to the output, rows
  ordered by score. The program is cut before NMS and
  `ppfcos.export.onnx_nms.append_nms` writes the NMS in ONNX operators.

paddle2onnx and onnxruntime are an optional extra: ``pip install -e .[onnx]``.
"""
import importlib
import logging
import os
import tempfile

import paddle
from ppfcos_runtime.exported_model import read_infer_cfg
from ppfcos_runtime.host_postprocess import EDGE_FORM, ExportForm
from ppfcos_runtime.model_files import INFER_CFG_FILE, ONNX_FILE

from ..compat import paddle2onnx_max_opset, paddle2onnx_without_optimizer, writes_pir_programs
from ..core.config import ConfigError
from ..core.files import atomic_path
from .infer_cfg import check_sources, record_model_file
from .program import ProgramFormatError, load_program, program_file, static_mode

logger = logging.getLogger("ppfcos")

# The opsets written: paddle2onnx needs 13 for the network, and the NMS graph
# (onnx_nms) uses opset 13's operator signatures; paddle2onnx 2.1 writes up to 21 (it
# aborts the process beyond). The default is the lowest; paddle2onnx raises it where
# an operator needs more (DeformConv: 19).
MIN_OPSET, MAX_OPSET = 13, 21
DEFAULT_OPSET = MIN_OPSET
INSTALL_HINT = "pip install -e .[onnx]  (or: pip install paddle2onnx onnxruntime)"


def add_opset_flag(parser):
    """The ``--opset`` flag of the tools that write model.onnx."""
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"lowest ONNX opset, {MIN_OPSET} to {MAX_OPSET} (raised where an "
                        f"operator needs it: deformable conv 19)")


class OnnxExportError(ConfigError):
    """ONNX export cannot run (missing packages, an unsupported model); says what to do."""


def require_onnx(names=("paddle2onnx", "onnx")):
    """-> the modules ``names`` of the onnx extra (conversion needs paddle2onnx and onnx);
    OnnxExportError naming the extra if one is not installed."""
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            raise OnnxExportError(f"ONNX export and ONNX Runtime need the optional packages "
                                  f"paddle2onnx and onnxruntime ({name} is not installed): "
                                  f"{INSTALL_HINT}") from None
    return modules


def check_onnx_export(opset=DEFAULT_OPSET):
    """OnnxExportError unless ONNX export can run (the extra installed, ``opset`` in
    MIN_OPSET..MAX_OPSET) -> the (paddle2onnx, onnx) modules. Tools call it before a long
    Paddle export."""
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise OnnxExportError(f"ONNX export writes opsets {MIN_OPSET} to {MAX_OPSET}, got "
                              f"--opset {opset}")
    return require_onnx()


def export_onnx(model_dir, opset=DEFAULT_OPSET, output=None):
    """Convert the exported model in ``model_dir`` to ``output`` (default
    ``model_dir/model.onnx``), written only once complete and then recorded in
    infer_cfg.yml's ``files`` (ppfcos's exports); returns its path. DeployError, before
    anything is written, when the program or parameters do not match that record. An edge
    export's model.onnx is folded to constants and checked static (onnx_edge.py)."""
    program_file(model_dir)    # FileNotFoundError naming the directory
    check_sources(model_dir, "paddle")
    paddle2onnx, onnx = check_onnx_export(opset)
    from .onnx_edge import make_static
    from .onnx_nms import append_nms
    output = output or os.path.join(model_dir, ONNX_FILE)
    form = recorded_form(model_dir)
    with tempfile.TemporaryDirectory() as tmp, static_mode():
        network = read_program(model_dir, with_nms=form.name == "full")
        check_operators_convert(network.view, paddle2onnx)
        prefix = os.path.join(model_dir, "model")     # a graph without NMS converts whole
        if form.name == "full":
            prefix = os.path.join(tmp, "network")
            network.save_before_nms(prefix)
        model = convert(paddle2onnx, onnx, prefix, opset)
    restore_group_norm_epsilons(model, network.group_norm_epsilons)
    if form.name == "full":
        boxes, scores = (out.name for out in model.graph.output)
        del model.graph.output[:]
        append_nms(model, boxes, scores, network.nms_params)
    else:
        rename_outputs(model, form.outputs)
    if form.name == EDGE_FORM:
        make_static(model)
    onnx.checker.check_model(model)
    if model.opset_import[0].version != opset:
        logger.info("ONNX opset %d (needed by the model's operators; asked for %d)",
                    model.opset_import[0].version, opset)
    with atomic_path(output) as tmp_file:
        onnx.save(model, tmp_file)
    logger.info("wrote %s", output)
    record_model_file(model_dir, output)
    return output


def recorded_form(model_dir):
    """The ExportForm that ``model_dir/infer_cfg.yml`` records (full where it records none
    or the directory has no infer_cfg.yml)."""
    path = os.path.join(model_dir, INFER_CFG_FILE)
    return ExportForm.from_infer_cfg(read_infer_cfg(path), path) if os.path.isfile(
        path) else ExportForm()


def rename_outputs(model, names):
    """Give the outputs of the ONNX ``model``'s graph ``names``, in order (in the nodes that
    write them too)."""
    renamed = {output.name: name for output, name in zip(model.graph.output, names)}
    for node in model.graph.node:
        for i, name in enumerate(node.output):
            node.output[i] = renamed.get(name, name)
        for i, name in enumerate(node.input):
            node.input[i] = renamed.get(name, name)
    for output in model.graph.output:
        output.name = renamed[output.name]


class ExportedProgram:
    """The program of an exported model, read for conversion (static mode only).

    nms_params: the attributes of its multiclass_nms3 (all its NMS ops share them; None
    when read ``with_nms=False``, for the decoded and raw forms).
    group_norm_epsilons: the epsilon of each group_norm op, in program order.
    """

    def __init__(self, view, executor, with_nms=True):
        self.view = view
        self.executor = executor
        self.nms_params = None
        self.group_norm_epsilons = [view.attr(op, "epsilon") for op in view.ops("group_norm")]
        if view.ops("instance_norm"):
            raise OnnxExportError("the program has instance_norm ops, which this converter "
                                  "cannot tell from group_norm in paddle2onnx's output")
        if with_nms:
            self._read_nms()

    def _read_nms(self):
        """Read the NMS settings and the boxes and scores entering the NMS."""
        view = self.view
        nms = view.ops("multiclass_nms3")
        if not nms:
            raise OnnxExportError("the exported program has no multiclass_nms3 (not a model "
                                  "written by tools/export_model.py?)")
        keys = ("score_threshold", "nms_top_k", "keep_top_k", "nms_threshold", "normalized",
                "nms_eta", "background_label")
        params = [{key: view.attr(op, key) for key in keys} for op in nms]
        if any(p != params[0] for p in params):
            raise OnnxExportError(f"the program's NMS ops differ in their settings: {params}")
        self.nms_params = params[0]
        if self.nms_params["nms_eta"] < 1.0:
            raise OnnxExportError(f"adaptive NMS (nms_eta={self.nms_params['nms_eta']:g}) has "
                                  f"no ONNX equivalent; export with nms_eta: 1.0")
        self.boxes, self.scores = _nms_inputs(view, nms)

    def save_before_nms(self, prefix):
        """Write the program cut before NMS: outputs boxes [N, M, 4], scores [N, C, M].

        Saving adds an op per output whose variable names (``save_infer_model/scale_0...``)
        a loaded ProgramDesc already holds; a name prefix of their own keeps them apart."""
        with paddle.utils.unique_name.guard("before_nms_"):
            paddle.static.save_inference_model(prefix, self.view.feeds,
                                               [self.boxes, self.scores], self.executor,
                                               program=self.view.program)


def read_program(model_dir, with_nms=True):
    """The ExportedProgram of ``model_dir`` (call in static_mode()); ``with_nms``: read its
    NMS (a full export's program)."""
    try:
        view, executor = load_program(model_dir)
    except ProgramFormatError as e:
        raise OnnxExportError(str(e)) from None
    return ExportedProgram(view, executor, with_nms)


def _nms_inputs(view, nms_ops):
    """(boxes, scores) before MultiClassNMS's preselection: the NMS ops' boxes, and the
    scores its masking ``where(scores >= floor, scores, full_like(...))`` starts from (the
    NMS's own scores without one). OnnxExportError unless all NMS ops share them."""
    inputs = []
    for op in nms_ops:
        boxes, scores = view.operand(op, 0), view.operand(op, 1)
        masking = view.producer(scores)
        if (view.kind(masking) == "where"
                and view.kind(view.producer(view.operand(masking, 2))) == "full_like"):
            scores = view.operand(masking, 1)
        inputs.append((boxes, scores))
    if any(not (view.same(b, inputs[0][0]) and view.same(s, inputs[0][1])) for b, s in inputs):
        raise OnnxExportError("the program's NMS ops run on different boxes or scores: not "
                              "MultiClassNMS's preselection, which this converter rebuilds")
    return inputs[0]


# ONNX opset that each Paddle op paddle2onnx writes needs, where it is above MIN_OPSET.
OPSET_OF = {"deformable_conv": 19}


def check_operators_convert(view, paddle2onnx):
    """OnnxExportError, before paddle2onnx aborts the process, when the program has an op
    that needs a higher opset than this paddle2onnx writes (deformable conv with the
    paddle2onnx 1.x of Paddle 2.6)."""
    highest = paddle2onnx_max_opset(paddle2onnx)
    for kind, opset in OPSET_OF.items():
        if opset > highest and view.ops(kind):
            raise OnnxExportError(
                f"the program's {kind} needs ONNX opset {opset}, and paddle2onnx "
                f"{paddle2onnx.__version__} (the one Paddle {paddle.__version__} works with) "
                f"writes at most {highest}: convert this model with Paddle 3.0 or newer")


def convert(paddle2onnx, onnx, prefix, opset):
    """paddle2onnx on the program ``prefix``.json or .pdmodel + .pdiparams ->
    onnx.ModelProto."""
    program = prefix + (".json" if writes_pir_programs() else ".pdmodel")
    try:
        data = paddle2onnx.export(program, prefix + ".pdiparams", None, opset_version=opset,
                                  auto_upgrade_opset=True, enable_onnx_checker=True,
                                  **paddle2onnx_without_optimizer(paddle2onnx))
    except Exception as e:   # paddle2onnx logs the cause and fails on its return value
        raise OnnxExportError(f"paddle2onnx could not convert the program: {e}") from None
    return onnx.load_from_string(data)


def restore_group_norm_epsilons(model, epsilons):
    """Give the InstanceNormalization nodes paddle2onnx made of group_norm ops (one each,
    in program order; ppfcos's group norms all have epsilon 1e-5) the ops' epsilons."""
    nodes = [node for node in model.graph.node if node.op_type == "InstanceNormalization"]
    if len(nodes) != len(epsilons):
        raise OnnxExportError(f"expected one InstanceNormalization per group_norm op "
                              f"({len(epsilons)}), paddle2onnx wrote {len(nodes)}")
    for node, epsilon in zip(nodes, epsilons):
        attr = next(a for a in node.attribute if a.name == "epsilon")
        attr.f = epsilon
