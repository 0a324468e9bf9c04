"""Loading weights files by name: strict errors, non-strict reports, and refusing files
that would run code."""
import pickle

import numpy as np
import paddle
import pytest

from ppfcos.checkpoint.errors import WeightsError
from ppfcos.checkpoint.loading import load_weights
from ppfcos.modeling.backbones.resnet import ResNet
from hostile import evil_pickle


class Detector(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.backbone = ResNet(depth=18, num_stages=2, return_idx=[1])
        self.head = paddle.nn.Conv2D(128, 3, 1)


def test_round_trip_with_and_without_extension(tmp_path):
    source, target = Detector(), Detector()
    path = str(tmp_path / "model_final.pdparams")
    paddle.save(source.state_dict(), path)
    report = load_weights(target, str(tmp_path / "model_final"))
    assert len(report.loaded) == len(source.state_dict())
    np.testing.assert_array_equal(target.head.weight.numpy(), source.head.weight.numpy())


def test_strict_error_lists_missing_unexpected_and_mismatched(tmp_path):
    state = Detector().state_dict()
    del state["head.bias"]
    state["neck.extra.weight"] = paddle.zeros([2])
    state["head.weight"] = paddle.zeros([5, 128, 1, 1])
    path = str(tmp_path / "bad.pdparams")
    paddle.save(state, path)
    model = Detector()
    before = model.head.weight.numpy().copy()
    with pytest.raises(WeightsError) as err:
        load_weights(model, path)
    message = str(err.value)
    assert "missing from the file (1): head.bias" in message
    assert "not in the model (1): neck.extra.weight" in message
    assert "head.weight file [5, 128, 1, 1] vs model [3, 128, 1, 1]" in message
    np.testing.assert_array_equal(model.head.weight.numpy(), before)   # nothing loaded


def test_backbone_only_weights_load_non_strictly(tmp_path):
    backbone = ResNet(depth=18, num_stages=2, return_idx=[1])
    path = str(tmp_path / "backbone.pdparams")
    paddle.save({f"backbone.{k}": v for k, v in backbone.state_dict().items()}
                | {"fc.weight": paddle.zeros([10, 512])}, path)
    model = Detector()
    report = load_weights(model, path, strict=False)
    assert set(report.missing) == {"head.weight", "head.bias"}
    assert report.unexpected == ["fc.weight"]
    assert "loaded" in report.summary() and "fc.weight" in report.summary()
    np.testing.assert_array_equal(model.backbone.conv1.conv1.conv.weight.numpy(),
                                  backbone.conv1.conv1.conv.weight.numpy())


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_weights(Detector(), str(tmp_path / "nope"))
    corrupt = tmp_path / "corrupt.pdparams"
    corrupt.write_bytes(b"not a pickle at all")
    with pytest.raises(WeightsError, match="cannot read"):
        load_weights(Detector(), str(corrupt))
    unrelated = str(tmp_path / "unrelated.pdparams")
    paddle.save({"x": paddle.zeros([1])}, unrelated)
    with pytest.raises(WeightsError, match="no tensor"):
        load_weights(Detector(), unrelated, strict=False)


def test_weights_that_run_code_are_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "ran"
    real = {k: v.numpy() for k, v in Detector().state_dict().items()}
    for name, state in [("evil", {}), ("wrapped", real)]:   # alone, or hidden among real weights
        path = tmp_path / f"{name}.pdparams"
        path.write_bytes(evil_pickle(marker, state))
        with pytest.raises(WeightsError) as err:
            load_weights(Detector(), str(path))
        assert str(err.value).splitlines() == [
            f"refusing to load {path}: it refers to posix.system, which a file of weights never "
            f"needs (a pickle that names it can run code)"]
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4])
def test_paddledetection_style_files_load(tmp_path, protocol):
    """paddle.save's layouts: name table, tensors as (name, array), big tensors in slices."""
    source = Detector()
    state = {k: v.numpy() for k, v in source.state_dict().items()}
    big = "backbone.conv1.conv1.conv.weight"
    flat = state.pop(big).reshape(-1)
    half = flat.size // 2
    state |= {f"{big}@@.0": flat[:half], f"{big}@@.1": flat[half:],
              "UnpackBigParamInfor@@": {big: {"OriginShape": tuple(source.state_dict()[big].shape),
                                              "slices": [f"{big}@@.0", f"{big}@@.1"]}},
              "StructuredToParameterName@@": {k: f"param_{i}" for i, k in enumerate(state)},
              "head.bias": ("conv2d_0.b_0", state["head.bias"])}
    path = tmp_path / "ppdet.pdparams"
    path.write_bytes(pickle.dumps(state, protocol=protocol))
    target = Detector()
    report = load_weights(target, str(path))
    assert len(report.loaded) == len(source.state_dict()) and not report.unexpected
    for name, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[name].numpy(), value.numpy())


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.pdparams"
    path.write_bytes(pickle.dumps({"head.bias": np.array([1, "x"], dtype=object)}))
    with pytest.raises(WeightsError, match="refusing to load .*dtype\\('O'\\) is not numeric"):
        load_weights(Detector(), str(path))
