"""SemiTrainReader: both views of an image share its geometry; the unlabelled batches depend
only on the seed and the epoch; a set smaller than its batch is a one-line config error."""
import os

import numpy as np
import pytest

import ppfcos
from conftest import CONFIGS
from ppfcos.core.config import ConfigError
from ppfcos.data.semi_reader import create_semi_reader
from ppfcos.data.semi_split import split_semi_coco
from ppfcos.data.synthetic import make_synthetic_coco

DEMO_SEMI = os.path.join(CONFIGS, "demo", "denseteacher_fcos_r18_lite_synthetic.yml")


@pytest.fixture(scope="module")
def overrides(tmp_path_factory):
    root = tmp_path_factory.mktemp("semi_reader")
    make_synthetic_coco(str(root), num_train=12, num_val=2, image_size=(64, 64))
    labelled, unlabelled = split_semi_coco(str(root / "annotations" / "instances_train.json"),
                                           50, seed=3)
    return [f"TrainDataset.dataset_dir={root}", f"UnsupTrainDataset.dataset_dir={root}",
            f"TrainDataset.anno_path={labelled}", f"UnsupTrainDataset.anno_path={unlabelled}"]


def steps(loader, epoch):
    loader.set_epoch(epoch)
    return list(loader)


def test_views_share_geometry_and_unlabelled_batches_repeat_per_epoch(overrides):
    cfg = ppfcos.load_config(DEMO_SEMI, overrides)
    loader = create_semi_reader(cfg, seed=5)
    assert len(loader) == 3                       # 6 labelled images, 2 per step
    first = steps(loader, 1)
    for sup_weak, sup_strong, unsup_weak, unsup_strong in first:
        for weak, strong in ((sup_weak, sup_strong), (unsup_weak, unsup_strong)):
            assert weak["image"].shape == strong["image"].shape
            np.testing.assert_array_equal(weak["im_id"].numpy(), strong["im_id"].numpy())
        for w, s in zip(sup_weak["gt_bbox"], sup_strong["gt_bbox"]):
            np.testing.assert_array_equal(w.numpy(), s.numpy())   # the same flip
        assert not np.array_equal(sup_weak["image"].numpy(), sup_strong["image"].numpy())
    again = steps(create_semi_reader(cfg, seed=5), 1)
    ids = [[b[2]["im_id"].numpy().tolist() for b in run] for run in (first, again)]
    assert ids[0] == ids[1]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a[3]["image"].numpy(), b[3]["image"].numpy())


def test_an_unlabelled_set_smaller_than_its_batch_is_a_config_error(overrides):
    cfg = ppfcos.load_config(DEMO_SEMI, overrides + ["SemiTrainReader.unsup_batch_size=7"])
    with pytest.raises(ConfigError, match="UnsupTrainDataset has 6 image"):
        create_semi_reader(cfg)
