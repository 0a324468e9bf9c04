"""mmdetection FCOS checkpoints -> ppfcos state dicts.

ppfcos names its parameters as PaddleDetection does; mmdetection names the same
tensors after its modules. `mmdet_name_map` gives, for each of our names, the
mmdetection name of the same tensor:

| ppfcos | mmdetection |
| --- | --- |
| ``backbone.conv1.conv1.conv.weight``, ``.norm.*`` | ``backbone.conv1.weight``, ``backbone.bn1.*`` |
| ``backbone.res{S}.res{S}{x}.branch2{a,b,c}.conv.weight``, ``.norm.*`` | ``backbone.layer{S-1}.{i}.conv{1,2,3}.weight``, ``.bn{1,2,3}.*`` |
| ``....branch2b.conv_offset.*`` (DCNv2) | ``....conv2.conv_offset.*`` |
| ``....short.conv.weight``, ``.short.norm.*`` | ``....downsample.0.weight``, ``.downsample.1.*`` |
| ``neck.fpn_inner_res{k}_sum[_lateral].*``, ``neck.fpn_res{k}_sum.*``, ``neck.fpn_{k}.*`` | ``neck.lateral_convs.{k-k0}.conv.*``, ``neck.fpn_convs.{k-k0}.conv.*`` |
| ``fcos_head.fcos_feat.fcos_head_{cls,reg}_tower_conv_{i}.conv.*``, ``.norm.*`` | ``bbox_head.{cls,reg}_convs.{i}.conv.*``, ``.gn.*`` |
| ``....conv.conv_dcn.*``, ``....conv.conv_offset.*`` (DCNv2) | ``....conv.*``, ``....conv.conv_offset.*`` |
| ``fcos_head.fcos_head_{cls,reg,centerness}.*`` | ``bbox_head.conv_{cls,reg,centerness}.*`` |
| ``fcos_head.p{k}_feat.scale_reg`` [1] | ``bbox_head.scales.{k-k0}.scale`` [] |

Block x is a, b, c, ... (or a, b1, b2, ... in the R-101 res4) and i its index; k0 is
the first pyramid level. BN statistics ``_mean``/``_variance`` are ``running_mean``/
``running_var``. mmdetection's ``num_batches_tracked`` (BN's step counter, which a BN
with a fixed momentum never reads) has no counterpart and is dropped.
DCNv2 offsets need no reordering: both lay out 2*k*k interleaved (dy, dx) offsets,
then k*k mask logits.
"""
import re

import numpy as np

from ..errors import ConversionError

IGNORED_SUFFIXES = (".num_batches_tracked",)
_NORM_PARAMS = {"weight": "weight", "bias": "bias", "_mean": "running_mean",
                "_variance": "running_var"}


def _block_index(block):
    """'res3a' -> 0, 'res3c' -> 2, 'res4b7' -> 7 (PaddleDetection's R-101 res4 names)."""
    letter, number = re.fullmatch(r"res\d([a-z])(\d*)", block).groups()
    return int(number) if number else ord(letter) - ord("a")


def _stem(kind, param, first_level):
    return f"backbone.conv1.{param}" if kind == "conv" else f"backbone.bn1.{_NORM_PARAMS[param]}"


def _block(stage, block, unit, kind, param, first_level):
    prefix = f"backbone.layer{int(stage) - 1}.{_block_index(block)}"
    if unit == "short":
        return f"{prefix}.downsample.{0 if kind == 'conv' else 1}.{_NORM_PARAMS[param]}"
    n = "abc".index(unit[-1]) + 1
    if kind == "norm":
        return f"{prefix}.bn{n}.{_NORM_PARAMS[param]}"
    return f"{prefix}.conv{n}.{'conv_offset.' if kind == 'conv_offset' else ''}{param}"


def _lateral(level, param, first_level):
    return f"neck.lateral_convs.{int(level) - first_level}.conv.{param}"


def _fpn_conv(level, param, first_level):
    return f"neck.fpn_convs.{int(level) - first_level}.conv.{param}"


def _tower(branch, i, kind, param, first_level):
    if kind == "norm":
        return f"bbox_head.{branch}_convs.{i}.gn.{param}"
    return f"bbox_head.{branch}_convs.{i}.conv.{param.replace('conv_dcn.', '')}"


def _predictor(branch, param, first_level):
    return f"bbox_head.conv_{branch}.{param}"


def _scale(level, first_level):
    return f"bbox_head.scales.{int(level) - first_level}.scale"


# (pattern of our name, its groups + the first pyramid level -> mmdetection's name)
RULES = [
    (r"backbone\.conv1\.conv1\.(conv|norm)\.(\w+)", _stem),
    (r"backbone\.res(\d)\.(res\w+)\.(branch2[abc]|short)\.(conv|norm|conv_offset)\.(\w+)",
     _block),
    (r"neck\.fpn_inner_res(\d)_sum(?:_lateral)?\.(\w+)", _lateral),
    (r"neck\.fpn_(?:res)?(\d)(?:_sum)?\.(\w+)", _fpn_conv),
    (r"fcos_head\.fcos_feat\.fcos_head_(cls|reg)_tower_conv_(\d+)\.(conv|norm)\.(.+)", _tower),
    (r"fcos_head\.fcos_head_(cls|reg|centerness)\.(\w+)", _predictor),
    (r"fcos_head\.p(\d)_feat\.scale_reg", _scale),
]


def _mmdet_name(name, first_level):
    """mmdetection's name for our ``name``, or None if no rule matches."""
    for pattern, rename in RULES:
        m = re.fullmatch(pattern, name)
        if m:
            return rename(*m.groups(), first_level)
    return None


def mmdet_name_map(names):
    """Our state-dict names -> {our name: mmdetection name}.

    Raises ConversionError listing the names no rule covers (a backbone variant
    mmdetection does not have, for instance the ResNet-vd stem).
    """
    levels = [int(m.group(1)) for n in names
              for m in [re.match(r"neck\.fpn_inner_res(\d)_sum", n)] if m]
    first_level = min(levels, default=3)
    mapping = {name: _mmdet_name(name, first_level) for name in names}
    unmapped = [name for name, theirs in mapping.items() if theirs is None]
    if unmapped:
        raise ConversionError(f"{len(unmapped)} parameters of this model have no mmdetection "
                              f"counterpart (is the config an mmdetection architecture?): "
                              f"{', '.join(unmapped[:10])}")
    return mapping


def state_dict_of(checkpoint):
    """The weights of a loaded mmdetection checkpoint: its ``state_dict`` entry, or the
    object itself when it is already a flat {name: array} dict."""
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        return checkpoint["state_dict"]
    if isinstance(checkpoint, dict) and all(isinstance(v, np.ndarray) for v in checkpoint.values()):
        return checkpoint
    raise ConversionError("the checkpoint has no 'state_dict' of named tensors")


def _fits(shape, array):
    """Same shape, or a 0-d scale stored where we keep a [1] one."""
    return tuple(array.shape) == tuple(shape) or (array.ndim == 0 and tuple(shape) == (1,))


def convert_mmdet_state(shapes, state):
    """mmdetection state dict -> ours.

    Args:
        shapes: {our name: shape} of the model to load into (its state_dict, in order).
        state: {mmdetection name: numpy array}.
    Returns:
        {our name: float32 (or integer) array of our shape}, in the model's order.
    Raises:
        ConversionError listing every missing, left-over and mis-shaped tensor.
    """
    mapping = mmdet_name_map(list(shapes))
    missing = [f"{theirs} (for {ours})" for ours, theirs in mapping.items()
               if theirs not in state]
    used = set(mapping.values())
    leftover = [k for k in state if k not in used and not k.endswith(IGNORED_SUFFIXES)]
    misshaped = [f"{theirs} {list(state[theirs].shape)} vs {ours} {list(shapes[ours])}"
                 for ours, theirs in mapping.items()
                 if theirs in state and not _fits(shapes[ours], state[theirs])]
    problems = [(f"missing from the checkpoint ({len(missing)})", missing),
                (f"in the checkpoint but not in the model ({len(leftover)})", leftover),
                (f"shapes differ ({len(misshaped)})", misshaped)]
    if missing or leftover or misshaped:
        lines = [f"{title}: {', '.join(items)}" for title, items in problems if items]
        raise ConversionError("the checkpoint does not fit the config's model:\n"
                              + "\n".join(lines))
    out = {}
    for ours, theirs in mapping.items():
        array = np.asarray(state[theirs])
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        out[ours] = array.reshape(shapes[ours])
    return out
