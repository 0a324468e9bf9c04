"""Constant folding of an ONNX graph whose input shapes are fixed (the edge profile).

paddle2onnx writes ``Shape`` -> ``Slice``/``Gather`` -> ``Reshape`` chains (group norm,
flatten, the points grid) and ``Constant`` and ``Identity`` nodes even when every shape
is known. NPU compilers reject or choke on such chains, so `fold_constants` computes
every node whose result does not depend on the image (a ``Shape`` of a tensor with a
static shape, or a node whose inputs are all constants) once, with onnx's reference
evaluator, and stores the result as an initializer; `drop_identities` reconnects the
consumers of each ``Identity`` to its input. The graph computes the same values.
"""
import numpy as np
from onnx import helper, numpy_helper, shape_inference
from onnx.reference import ReferenceEvaluator

# Operators never folded: random ones (not a function of their inputs) and control flow.
UNFOLDABLE = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
              "Multinomial", "Bernoulli", "If", "Loop", "Scan"}


def static_shapes(model):
    """{tensor name: tuple of ints} of every tensor whose shape onnx's shape inference
    fixes (inputs, outputs, intermediate values)."""
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    graph = inferred.graph
    shapes = {}
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        tensor = value.type.tensor_type
        if tensor.HasField("shape") and all(d.HasField("dim_value") for d in tensor.shape.dim):
            shapes[value.name] = tuple(d.dim_value for d in tensor.shape.dim)
    return shapes


def evaluate_node(node, constants, opset):
    """The outputs ([numpy arrays]) of ``node`` on the ``constants`` {name: array} of its
    inputs, by onnx's reference evaluator."""
    inputs = [name for name in node.input if name]
    graph = helper.make_graph(
        [node], "fold", [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(
            constants[name].dtype), constants[name].shape) for name in inputs],
        [helper.make_empty_tensor_value_info(name) for name in node.output])
    single = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return ReferenceEvaluator(single).run(None, {name: constants[name] for name in inputs})


def shape_value(node, shape):
    """What ``Shape`` ``node`` gives for an input of static ``shape``: int64 [k]
    (its ``start``/``end`` attributes applied)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return np.array(shape[attrs.get("start", 0):attrs.get("end", len(shape))], np.int64)


def fold_pass(model, opset):
    """One pass of `fold_constants` over ``model`` (changed in place); returns how many
    nodes it folded."""
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    shapes = static_shapes(model)
    kept = []
    for node in graph.node:
        if node.op_type == "Shape" and node.input[0] in shapes:
            values = [shape_value(node, shapes[node.input[0]])]
        elif node.op_type not in UNFOLDABLE and all(
                name in constants for name in node.input if name):
            values = evaluate_node(node, constants, opset)
        else:
            kept.append(node)
            continue
        for name, value in zip(node.output, values):
            constants[name] = np.asarray(value)
            graph.initializer.append(numpy_helper.from_array(constants[name], name))
    folded = len(graph.node) - len(kept)
    del graph.node[:]
    graph.node.extend(kept)
    return folded


def drop_identities(graph):
    """Remove the Identity nodes: the consumers of one read its input instead, and where it
    copies a computed tensor to a graph output, the node computing it writes the output."""
    outputs = {value.name for value in graph.output}
    computed = {name for node in graph.node for name in node.output}
    renamed, kept = {}, []
    for node in graph.node:
        source, target = (node.input[0], node.output[0]) if node.op_type == "Identity" else (
            None, None)
        if source is not None and target not in outputs:
            renamed[target] = source
        elif source is not None and source in computed and source not in outputs | set(
                renamed):
            renamed[source] = target
        else:
            kept.append(node)
    for node in kept:
        node.input[:] = [follow(renamed, name) for name in node.input]
        node.output[:] = [follow(renamed, name) for name in node.output]
    del graph.node[:]
    graph.node.extend(kept)


def follow(renamed, name):
    """``name`` after the renamings ``renamed`` {old: new}, applied in a chain."""
    while name in renamed:
        name = renamed[name]
    return name


def drop_unused_initializers(graph):
    """Remove the initializers no node reads and no output is (folded-away inputs)."""
    used = {name for node in graph.node for name in node.input} | {
        value.name for value in graph.output}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def fold_constants(model):
    """Fold every image-independent node of ``model`` (an onnx.ModelProto whose inputs have
    static shapes; changed in place) into initializers, drop Identity nodes and the
    initializers left unused. Returns ``model``."""
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    while fold_pass(model, opset):
        pass
    drop_identities(model.graph)
    drop_unused_initializers(model.graph)
    del model.graph.value_info[:]
    return model
