"""Read an exported program, whichever format the Paddle that wrote it has.

Paddle 3 writes a PIR program (``model.json``), Paddle 2.6 a ProgramDesc (``model.pdmodel``);
their Python objects differ (``op.name() == "pd_op.where"`` and operands, against
``op.type == "where"`` and variable names). `load_program` returns one of two small
views with the same methods, so the ONNX conversion and the tests read both alike.

Call everything here in `static_mode` (`op_counts` enters it itself).
"""
import collections
import contextlib
import os

import paddle
from ppfcos_runtime.model_files import PROGRAM, find

from ..compat import writes_pir_programs


@contextlib.contextmanager
def static_mode():
    """Paddle's static-graph mode inside the block, with a scope of its own."""
    dynamic = paddle.in_dynamic_mode()
    paddle.enable_static()
    try:
        with paddle.static.scope_guard(paddle.static.Scope()):
            yield
    finally:
        if dynamic:
            paddle.disable_static()


def program_file(model_dir):
    """The program file of an exported model: model.json (PIR) or model.pdmodel."""
    path = find(model_dir, PROGRAM)
    if path is None:
        raise FileNotFoundError(f"no {' or '.join(PROGRAM.names)} in {model_dir}")
    return path


class ProgramFormatError(ValueError):
    """The program file is not one this Paddle reads; says which Paddle does."""


def load_program(model_dir):
    """(program view, executor) of the export in ``model_dir``; ProgramFormatError when
    this Paddle cannot read its format (model.json needs Paddle 3; model.pdmodel is read
    here only by Paddle 2.6, as Paddle 3's loader looks for model.json)."""
    path = program_file(model_dir)
    pir = path.endswith(".json")
    if pir != writes_pir_programs():
        needed = "3.x (a PIR model.json)" if pir else "2.6 (a ProgramDesc model.pdmodel)"
        raise ProgramFormatError(f"{path}: this program needs Paddle {needed}, this is Paddle "
                                 f"{paddle.__version__}; export the model again with this Paddle")
    executor = paddle.static.Executor(paddle.CPUPlace())
    program, feeds, _ = paddle.static.load_inference_model(
        os.path.join(model_dir, "model"), executor)
    view = PirProgram if pir else DescProgram
    return view(program, feeds), executor


def op_counts(model_dir):
    """{op type: how many} of the export's program (a collections.Counter; types as
    `PirProgram.kind` names them, e.g. 'conv2d', 'cast'). Calls static_mode itself."""
    with static_mode():
        view, _ = load_program(model_dir)
        return collections.Counter(view.kind(op) for op in view.all_ops)


class PirProgram:
    """A PIR program (Paddle 3): ops named ``pd_op.<kind>``, values are op results."""

    def __init__(self, program, feeds):
        self.program = program
        self.all_ops = program.global_block().ops
        self.inputs = {op.attrs()["name"]: op.result(0) for op in self.all_ops
                       if op.name() == "pd_op.data"}
        self.feeds = [self.inputs[name] for name in feeds]

    @staticmethod
    def kind(op):
        """The op's type, e.g. 'multiclass_nms3'."""
        return op.name().replace("pd_op.", "", 1)

    def ops(self, kind):
        """The ops of type ``kind``, in program order."""
        return [op for op in self.all_ops if self.kind(op) == kind]

    @staticmethod
    def attr(op, name):
        return op.attrs()[name]

    def input_shapes(self):
        """{input name: declared shape} (-1 for any size)."""
        return {name: list(value.shape) for name, value in self.inputs.items()}

    @staticmethod
    def output_shapes(op):
        """[(name, shape)] of the op's tensor outputs that other ops read (-1 for a size
        known only at run time; names as 'output i' where PIR gives the value none).
        Outputs nothing reads (batch_norm's reserve space) are left out."""
        return [(value.name if value.has_name else f"output {index}", list(value.shape))
                for index, value in enumerate(op.results())
                if value.is_dense_tensor_type() and not value.use_empty()]

    @staticmethod
    def operand(op, index):
        """The value of the op's ``index``-th input (in the op's signature order)."""
        return op.operand_source(index)

    @staticmethod
    def producer(value):
        """The op that computes ``value``."""
        return value.get_defining_op()

    @staticmethod
    def same(a, b):
        return a.is_same(b)


class DescProgram:
    """A ProgramDesc (Paddle 2.6): ops have a ``type`` and named input slots, values are
    variables. ``operand`` maps the signature order of the ops read here onto the slots."""

    SLOTS = {"multiclass_nms3": ("BBoxes", "Scores"), "where": ("Condition", "X", "Y")}
    KINDS = {"fill_any_like": "full_like"}     # PIR's names where the types differ

    def __init__(self, program, feeds):
        self.program = program
        self.block = program.global_block()
        self.all_ops = self.block.ops
        self.feed_names = list(feeds)
        self.feeds = [self.block.var(name) for name in feeds]

    def kind(self, op):
        return self.KINDS.get(op.type, op.type)

    def ops(self, kind):
        return [op for op in self.all_ops if self.kind(op) == kind]

    @staticmethod
    def attr(op, name):
        return op.attr(name)

    def input_shapes(self):
        return {name: list(self.block.var(name).shape) for name in self.feed_names}

    def output_shapes(self, op):
        read = {name for other in self.all_ops for name in other.input_arg_names}
        return [(name, list(self.block.var(name).shape)) for name in op.output_arg_names
                if name in read and self.block.has_var(name)]

    def operand(self, op, index):
        return self.block.var(op.input(self.SLOTS[op.type][index])[0])

    def producer(self, value):
        return next(op for op in self.all_ops if value.name in op.output_arg_names)

    @staticmethod
    def same(a, b):
        return a.name == b.name
