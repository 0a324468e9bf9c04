"""Tool wiring checks that turn config mistakes into one-line errors, and what the tools
build from a config."""
import inspect
import os
import types

import pytest

from ppfcos import load_config
from ppfcos.core.config import ConfigError
from ppfcos.engine.slicing import SlicedEvalModel
from ppfcos_runtime.slicing import SliceOptions
from ppfcos.engine import tasks
from ppfcos.engine.tasks import check_classes

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")


def test_model_with_more_classes_than_the_eval_dataset_is_a_config_error():
    dataset = types.SimpleNamespace(class_names=["circle", "square"])
    check_classes({"num_classes": 2}, dataset)
    check_classes({"num_classes": 1}, dataset)         # predicts a subset: scorable
    with pytest.raises(ConfigError, match="num_classes is 80 but the EvalDataset has 2 "
                                          r"categories \(circle, square\)"):
        check_classes({"num_classes": 80}, dataset)


@pytest.mark.parametrize("config, to_rgb", [("fcos_r50_fpn_1x_coco.yml", True),
                                            ("fcos_r50_caffe_fpn_gn-head_1x_coco.yml", False)])
def test_sliced_inference_reads_images_in_the_readers_channel_order(config, to_rgb):
    """Windows are cut from the image the reader's Decode gives (BGR for caffe-style
    backbones): the window transforms keep an already decoded array as it is."""
    pytest.importorskip("sahi", reason="the slice extra is not installed: pip install -e .[slice]")
    cfg = load_config(os.path.join(CONFIGS, config))
    detector = SlicedEvalModel.from_config(None, cfg, "TestReader", SliceOptions())
    assert detector.decode.to_rgb is to_rgb


@pytest.mark.parametrize("function", [
    tasks.train, tasks.evaluate_weights, tasks.evaluate_json, tasks.analyze_saved, tasks.infer,
    tasks.export, tasks.saved_results, tasks.make_evaluator, tasks.predictions_of,
    tasks.model_with_weights])
def test_task_functions_take_their_options_by_keyword_only(function):
    """Every parameter with a default is keyword-only, so a caller cannot pass options in
    the wrong order (``tools/eval.py`` once passed nine in a row)."""
    parameters = inspect.signature(function).parameters.values()
    positional = [p.name for p in parameters
                  if p.default is not p.empty and p.kind is not p.KEYWORD_ONLY]
    assert positional == []
