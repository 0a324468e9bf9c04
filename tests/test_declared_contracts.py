"""Contracts checked before the first training step: what a dataset provides (its
declared attributes' types, the metrics that can score it) and the FCOS head against the
targets the reader makes for it. Each mistake stops tools/train.py with one line and
writes no checkpoint."""
import os

import pytest

from ppfcos.data.synthetic import make_synthetic_coco
from tool_runs import one_error_line, run_tool, tool
from voc_files import voc_eval_dataset, write_voc_copy


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """4 train / 2 val synthetic images, and the val split as a VOC set in ``voc/``."""
    root = str(tmp_path_factory.mktemp("synthetic"))
    make_synthetic_coco(root, num_train=4, num_val=2, image_size=(64, 96))
    write_voc_copy(root, os.path.join(root, "voc"))
    return root


def refused_training(data, tmp_path, *options):
    """The one error line of tools/train.py run with ``options``, after checking that it
    exited with status 1 and left no checkpoint in save_dir."""
    save_dir = tmp_path / "out"
    command = tool("train", data, f"save_dir={save_dir}", *options)
    run = run_tool(command[1], command[2:], str(tmp_path), timeout=300)
    line = one_error_line(1, run.returncode, run.stdout, run.stderr)
    saved = [name for _, _, files in os.walk(save_dir) for name in files
             if name.endswith(".pdparams")]
    assert saved == []
    return line


def test_metric_coco_on_a_voc_eval_dataset_is_refused_before_training(data, tmp_path):
    line = refused_training(data, tmp_path, "metric=COCO",
                            voc_eval_dataset(os.path.join(data, "voc")), "--eval")
    assert line.endswith("metric COCO cannot score the EvalDataset, a VOCDataSet (scored by "
                         "metric VOC): set metric: VOC"), line


def test_a_dataset_attribute_of_the_wrong_type_names_the_key(data, tmp_path):
    line = refused_training(data, tmp_path, "TrainDataset.empty_ratio=half")
    assert line.endswith("TrainDataset.empty_ratio: COCODataSet.empty_ratio must be int or "
                         "float, got 'half'"), line


@pytest.mark.parametrize("override, says", [
    ("FCOSHead.norm_reg_targets=false",
     "Gt2FCOSTarget makes box distances divided by the stride but FCOSHead predicts them in "
     "pixels: set norm_reg_targets (and multiply_strides_reg_targets) to the same values in "
     "FCOSHead and Gt2FCOSTarget"),
    ("TrainReader.batch_transforms=[{Gt2FCOSTarget: {object_sizes_boundary: [64, 128, 256], "
     "center_sampling_radius: 1.5, downsample_ratios: [8, 16, 32, 64], "
     "norm_reg_targets: true}}]",
     "Gt2FCOSTarget.downsample_ratios is [8, 16, 32, 64] but FCOSHead predicts at strides "
     "[8, 16, 32] (the neck's levels): set downsample_ratios: [8, 16, 32]"),
])
def test_targets_the_head_does_not_predict_are_refused(data, tmp_path, override, says):
    line = refused_training(data, tmp_path, override)
    assert line.endswith(says), line
