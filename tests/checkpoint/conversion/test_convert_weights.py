"""tools/convert_weights.py --from mmdet: both checkpoint formats convert, load strictly and
give mmdetection's detections; a checkpoint that does not fit is refused, listing keys."""
import os

import numpy as np
import paddle
import pytest

import ppfcos
from ppfcos.checkpoint.conversion.mmdet import convert_mmdet_state, state_dict_of
from ppfcos.checkpoint.conversion.torch_file import load_torch_file
from ppfcos.checkpoint.errors import ConversionError
from ppfcos.checkpoint.loading import load_weights

from conftest import load_tool
from mmdet_fixtures import MMDET_FIXTURES, assert_same_detections, eval_batch

TINY_CONFIG = os.path.join(MMDET_FIXTURES, "fcos_tiny.yml")
CHECKPOINTS = [os.path.join(MMDET_FIXTURES, f"fcos_tiny_{kind}.pth") for kind in ("legacy", "zip")]


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_converted_checkpoint_gives_mmdet_detections(tmp_path, checkpoint):
    output = str(tmp_path / "tiny.pdparams")
    tool = load_tool("convert_weights")
    assert tool.main(["-c", TINY_CONFIG, "--from", "mmdet", "--input", checkpoint,
                      "--output", output]) == 0
    cfg = ppfcos.load_config(TINY_CONFIG)
    model = ppfcos.build_model(cfg)
    report = load_weights(model, output)             # strict: every tensor, nothing else
    assert len(report.loaded) == len(model.state_dict())
    model.eval()
    with paddle.no_grad():
        out = model(eval_batch(cfg, [0, 1], [128, 224]))
    assert_same_detections(out, np.load(os.path.join(MMDET_FIXTURES, "fcos_tiny.npz")))


def _tiny_shapes_and_state():
    model = ppfcos.build_model(ppfcos.load_config(TINY_CONFIG))
    shapes = {n: tuple(t.shape) for n, t in model.state_dict().items()}
    return shapes, dict(state_dict_of(load_torch_file(CHECKPOINTS[0])))


def test_missing_leftover_and_misshaped_tensors_are_listed():
    shapes, state = _tiny_shapes_and_state()
    del state["bbox_head.conv_reg.bias"]
    state["bbox_head.extra.weight"] = np.zeros(3, np.float32)
    state["neck.fpn_convs.4.conv.weight"] = np.zeros((16, 16, 1, 1), np.float32)
    with pytest.raises(ConversionError) as info:
        convert_mmdet_state(shapes, state)
    message = str(info.value)
    assert "bbox_head.conv_reg.bias (for fcos_head.fcos_head_reg.bias)" in message
    assert "not in the model (1): bbox_head.extra.weight" in message
    assert "neck.fpn_convs.4.conv.weight [16, 16, 1, 1] vs neck.fpn_7.weight [16, 16, 3, 3]" \
        in message


def test_a_checkpoint_for_another_model_is_refused_and_nothing_is_written(tmp_path, capsys):
    output = tmp_path / "x.pdparams"
    config = os.path.join(MMDET_FIXTURES, "..", "..", "..", "configs",
                          "fcos_r50_caffe_fpn_gn-head_tricks_1x_coco.yml")
    tool = load_tool("convert_weights")
    assert tool.main(["-c", config, "--from", "mmdet", "--input", CHECKPOINTS[1],
                      "--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert "error: the checkpoint does not fit" in err and "bbox_head.cls_convs.0.conv.bias" in err
    assert not output.exists() and os.listdir(tmp_path) == []
