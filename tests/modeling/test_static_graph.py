"""The eval path (network, decoding, NMS) survives paddle.jit.to_static and runs in
Paddle Inference, with oneDNN on and off, giving the dygraph detections."""
import os

import numpy as np
import paddle
import pytest
from paddle import inference
from paddle.static import InputSpec

import ppfcos
from conftest import assert_same_detections, fixture_tmp

TINY = """
architecture: FCOS
num_classes: 4
FCOS: {backbone: ResNet, neck: FPN, fcos_head: FCOSHead}
ResNet: {depth: 18, return_idx: [1, 2, 3], dcn_v2_stages: [2]}
FPN: {out_channel: 32, extra_stage: 2, has_extra_convs: true, use_c5: false}
FCOSHead:
  fcos_feat: {name: FCOSFeat, feat_out: 32, num_convs: 2, norm_type: gn}
  nms: {name: MultiClassNMS, score_threshold: 0.0, keep_top_k: 50, nms_top_k: 100}
"""


class EvalGraph(paddle.nn.Layer):
    """Positional inputs for to_static; forward argument names are the input names."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image, scale_factor):
        out = self.model({"image": image, "scale_factor": scale_factor})
        return out["bbox"], out["bbox_num"]


@pytest.fixture(scope="module")
def exported(request):
    path = fixture_tmp(request, "static")
    (path / "tiny.yml").write_text(TINY)
    model = ppfcos.build_model(ppfcos.load_config(str(path / "tiny.yml")))
    graph = EvalGraph(model)
    graph.eval()
    image = paddle.rand([2, 3, 128, 192])
    scale = paddle.to_tensor([[1.0, 1.0], [0.5, 0.25]])
    expected = [t.numpy() for t in graph(image, scale)]
    static = paddle.jit.to_static(graph, input_spec=[
        InputSpec([-1, 3, -1, -1], "float32", "image"),
        InputSpec([-1, 2], "float32", "scale_factor")], full_graph=True)
    paddle.jit.save(static, str(path / "model"))
    return path, (image.numpy(), scale.numpy()), expected


def test_saved_program_reloads_with_the_same_detections(exported):
    path, inputs, expected = exported
    assert os.path.isfile(path / "model.pdiparams")
    loaded = paddle.jit.load(str(path / "model"))
    bbox, bbox_num = loaded(*[paddle.to_tensor(x) for x in inputs])
    np.testing.assert_array_equal(bbox_num.numpy(), expected[1])
    np.testing.assert_allclose(bbox.numpy(), expected[0], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("onednn", [False, True])
def test_paddle_inference_runs_the_graph(exported, onednn):
    path, inputs, expected = exported
    program = path / "model.json"
    if not program.exists():
        program = path / "model.pdmodel"
    config = inference.Config(str(program), str(path / "model.pdiparams"))
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(2)
    if onednn:
        config.enable_mkldnn()
    else:
        config.disable_mkldnn()
    predictor = inference.create_predictor(config)
    for name, value in zip(predictor.get_input_names(), inputs):
        predictor.get_input_handle(name).copy_from_cpu(value)
    predictor.run()
    bbox = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    assert_same_detections(bbox, expected[0], score_atol=1e-4, box_atol=1e-3)
