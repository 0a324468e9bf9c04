"""Batch-norm folding: an eval-mode ``BatchNorm2D`` that only ever normalizes one
convolution's output becomes part of that convolution, for any network.

How pairs are found: by tracing, not by layer names or classes. One forward pass on an
example input runs with hooks on every layer that has no sublayers: each convolution
(``nn.Conv2D`` or ``DeformConv2D``) records the tensor it returns, and each layer
records which of those tensors it receives. A (conv, norm) pair is folded when, over
the whole pass, the norm received only that conv's outputs and that conv's outputs
reached no layer but the norm. This holds whatever the backbone calls its layers or
how it nests them (a ``Sequential``, a conv-norm block, a conv shared by several
norms is rightly left alone). What hooks cannot see is a plain function (``x + y``,
``F.relu``) reading the conv's output beside the norm: a network doing that must not
be folded, and its tests (output equal before and after folding) would show it.
"""
import collections

import paddle
import paddle.nn as nn
from paddle.vision.ops import DeformConv2D

CONV_TYPES = (nn.Conv2D, DeformConv2D)


def conv_norm_pairs(network, *example_inputs):
    """``[(conv, norm)]``: the convolutions of ``network`` whose every output goes only to
    a ``BatchNorm2D`` that reads nothing else, found by running ``network(*example_inputs)``
    once (see the module docstring)."""
    made_by = {}                                     # id(tensor) -> the conv that returned it
    outputs = []                                     # keeps traced tensors (and their ids) alive
    readers = collections.defaultdict(set)           # conv -> ids of the layers reading its outputs
    sources = collections.defaultdict(set)           # norm -> what its inputs came from
    layers = {id(layer): layer for layer in network.sublayers(include_self=True)
              if not layer.sublayers()}

    def before(layer, inputs):
        for value in inputs:
            if isinstance(value, paddle.Tensor):
                conv = made_by.get(id(value))
                if conv is not None:
                    readers[id(conv)].add(id(layer))
                if isinstance(layer, nn.BatchNorm2D):
                    sources[id(layer)].add(id(conv) if conv is not None else None)

    def after(layer, inputs, output):
        if isinstance(layer, CONV_TYPES):
            outputs.append(output)
            made_by[id(output)] = layer

    handles = [hook for layer in layers.values()
               for hook in (layer.register_forward_pre_hook(before),
                            layer.register_forward_post_hook(after))]
    try:
        with paddle.no_grad():
            network(*example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return [(layers[conv], layers[norm]) for norm, found in sources.items()
            for conv in found if found == {conv} and conv is not None
            and readers[conv] == {norm}]


def fold_into_conv(conv, norm):
    """Make ``conv`` compute ``norm(conv(x))`` of eval mode: its weight [out, in/groups,
    kh, kw] scaled per output channel, its bias (added if it had none) shifted."""
    scale = norm.weight / paddle.sqrt(norm._variance + norm._epsilon)      # [out]
    shift = norm.bias - norm._mean * scale                                 # [out]
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    conv.weight.set_value(conv.weight * scale.reshape([-1, 1, 1, 1]))
    if conv.bias is None:
        conv.bias = conv.create_parameter([shift.shape[0]], is_bias=True)
    conv.bias.set_value(shift)


def replace_layer(network, old, new):
    """Put ``new`` wherever ``old`` is a direct sublayer of a layer inside ``network``."""
    for parent in network.sublayers(include_self=True):
        for name, child in list(parent.named_children()):
            if child is old:
                setattr(parent, name, new)


def fold_batch_norms(network, *example_inputs):
    """Fold every batch norm of ``network`` that only normalizes one conv's output into
    that conv (``network`` in eval mode; only for inference, since the folded network no
    longer trains like the original); returns how many were folded.

    ``example_inputs``: what ``network`` is called with for tracing (any size it accepts,
    e.g. a [1, 3, 64, 64] image for a backbone).
    """
    pairs = conv_norm_pairs(network, *example_inputs)
    for conv, norm in pairs:
        fold_into_conv(conv, norm)
        replace_layer(network, norm, nn.Identity())
    return len(pairs)
