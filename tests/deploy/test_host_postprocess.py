"""ppfcos_runtime.host_postprocess against what the exported graph computes: its
multiclass_nms equals Paddle's multiclass_nms3 behind MultiClassNMS's preselection (ties,
zero-area boxes, nms_top_k, keep_top_k, a batch), and its decode equals FCOSBox in float64."""
import numpy as np
import paddle
import pytest

from ppfcos.modeling.post_process import FCOSBox, MultiClassNMS
from ppfcos_runtime.errors import DeployError
from ppfcos_runtime.host_postprocess import (Decoding, ExportForm, NmsSettings, decode,
                                             level_points, multiclass_nms)


def candidates(seed, images=2, classes=3, points=300):
    """Random boxes [N, M, 4] (some zero-area, some repeated) and scores [N, C, M] with
    ties (scores rounded to 1/64)."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 200, (images, points, 2))
    size = rng.uniform(0, 60, (images, points, 2)) * (rng.random((images, points, 1)) > 0.1)
    boxes = np.concatenate([corner, corner + size], axis=2).astype(np.float32)
    boxes[:, 1::7] = boxes[:, ::7][:, :boxes[:, 1::7].shape[1]]         # identical boxes
    scores = (np.round(rng.random((images, classes, points)) * 64) / 64).astype(np.float32)
    return boxes, scores


@pytest.mark.parametrize("settings", [
    NmsSettings(score_threshold=0.3, nms_top_k=-1, keep_top_k=100, nms_threshold=0.5),
    NmsSettings(score_threshold=0.05, nms_top_k=40, keep_top_k=25, nms_threshold=0.4),
    NmsSettings(score_threshold=0.5, nms_top_k=1000, keep_top_k=-1, nms_threshold=0.6),
    NmsSettings(score_threshold=0.9, nms_top_k=-1, keep_top_k=100, nms_threshold=0.5),
    NmsSettings(score_threshold=0.2, nms_top_k=-1, keep_top_k=30, nms_threshold=0.5,
                normalized=False, background_label=1),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_nms_equals_paddles_kernel_behind_the_preselection(settings, seed):
    boxes, scores = candidates(seed)
    bbox, bbox_num = MultiClassNMS(**vars(settings))(paddle.to_tensor(boxes),
                                                      paddle.to_tensor(scores))
    expected, counts = bbox.numpy(), bbox_num.numpy()
    expected = expected[:counts.sum()]            # Paddle's placeholder row when none is kept
    found, found_counts = multiclass_nms(boxes, scores, settings)
    np.testing.assert_array_equal(found_counts, counts)
    np.testing.assert_array_equal(found, expected)


def test_decode_equals_fcosbox_in_float64():
    rng = np.random.default_rng(3)
    strides, shapes = (8, 16), ((6, 10), (3, 5))
    cls = [rng.normal(-2, 1, (2, 4, h, w)).astype(np.float32) for h, w in shapes]
    reg = [rng.uniform(0, 5, (2, 4, h, w)).astype(np.float32) for h, w in shapes]
    qual = [rng.normal(0, 1, (2, 1, h, w)).astype(np.float32) for h, w in shapes]
    scale_factor = np.array([[0.5, 0.75], [1.25, 1.0]], np.float32)
    points = [paddle.to_tensor(level_points(h, w, s, 0.5)) for (h, w), s in zip(shapes, strides)]

    def f64(arrays):
        return [paddle.to_tensor(a.astype(np.float64)) for a in arrays]

    for sqrt_score in (False, True):
        boxes, scores = FCOSBox(sqrt_score=sqrt_score)(
            points, f64(cls), [d * s for d, s in zip(f64(reg), strides)], f64(qual),
            paddle.to_tensor(scale_factor.astype(np.float64)))
        found = decode(cls, [d * s for d, s in zip(reg, strides)], qual, scale_factor,
                       Decoding(strides, 0.5, sqrt_score))
        np.testing.assert_array_equal(found[0], boxes.numpy().astype(np.float32))
        np.testing.assert_array_equal(found[1], scores.numpy().astype(np.float32))


def test_a_form_reads_back_from_its_infer_cfg_record_and_a_damaged_one_is_refused():
    form = ExportForm.raw(NmsSettings(keep_top_k=50), Decoding((8, 16, 32)))
    assert ExportForm.from_infer_cfg(form.to_infer_cfg()) == form
    assert ExportForm.from_infer_cfg({}) == ExportForm()          # older exports: full
    damaged = {**form.to_infer_cfg(), "outputs": ["boxes", "scores"]}
    with pytest.raises(DeployError, match="a raw export's outputs are"):
        ExportForm.from_infer_cfg(damaged, "m/infer_cfg.yml")
    with pytest.raises(DeployError, match="nms has a value of the wrong type"):
        ExportForm.from_infer_cfg({**form.to_infer_cfg(), "nms": {"keep_top_k": "many"}})
