"""Repeat-factor sampling (``TrainReader.oversample_thr``): LVIS's factors, per-epoch
stochastic rounding shared by all ranks, sharding, and a training run."""
import math

import numpy as np
import pytest

from ppfcos.data.sampler import DistributedBatchSampler, repeat_factors, repeated_indices
from ppfcos.data.synthetic import make_synthetic_coco
from test_hostile_input import assert_one_line_error, base_args
from tool_runs import run_tool, train

# Ten images; class 0 is in all of them, class 1 in two, class 2 in one, image 9 has none.
CLASSES = [[0], [0, 0], [0], [0], [0], [0], [0, 1], [0, 1, 1], [0, 2], []]


def test_repeat_factors_are_lvis_values():
    # f_0 = 9/10, f_1 = 2/10, f_2 = 1/10; r_c = max(1, sqrt(0.4 / f_c)).
    r1, r2 = math.sqrt(0.4 / 0.2), math.sqrt(0.4 / 0.1)
    expected = [1, 1, 1, 1, 1, 1, r1, r1, r2, 1]
    np.testing.assert_allclose(repeat_factors([np.array(c) for c in CLASSES], 0.4), expected)


def sampler(rank, replicas, epoch, seed=3):
    factors = repeat_factors([np.array(c) for c in CLASSES], 0.4)
    s = DistributedBatchSampler(len(CLASSES), 2, shuffle=True, num_replicas=replicas,
                                rank=rank, seed=seed, repeat_factors=factors)
    s.set_epoch(epoch)
    return s


def test_stochastic_rounding_numbers_each_copy():
    factors = repeat_factors([np.array(c) for c in CLASSES], 0.4)
    counts = []
    for epoch in range(20):
        indices = repeated_indices(factors, np.random.default_rng([3, epoch]))
        assert len(set(indices.tolist())) == len(indices)   # copy k of i is i + 10 k
        images = (indices % 10).tolist()
        assert images.count(8) == 2 and 18 in indices       # factor exactly 2
        assert all(images.count(i) == 1 for i in (0, 1, 2, 3, 4, 5, 9))
        counts.append((images.count(6), images.count(7)))
    assert set(counts) == {(1, 1), (1, 2), (2, 1), (2, 2)}  # sqrt(2): 1 or 2 copies


def test_same_epoch_same_order_and_two_ranks_cover_the_repeated_list():
    whole = sampler(0, 1, epoch=4).indices()
    assert whole == sampler(0, 1, epoch=4).indices()
    assert whole != sampler(0, 1, epoch=5).indices()
    # round(7 + 2 * sqrt(2) + 2) = 12 every epoch, whatever the rounding drew
    assert {len(sampler(0, 1, epoch=e).indices()) for e in range(10)} == {12}
    assert {i % 10 for i in whole} == set(range(10))
    first, second = sampler(0, 2, epoch=4).indices(), sampler(1, 2, epoch=4).indices()
    assert len(first) == len(second) == 6
    assert first == whole[0::2] and second == whole[1::2]
    assert sorted(first + second) == sorted(whole)
    odd = DistributedBatchSampler(10, 2, shuffle=True, num_replicas=5, rank=4, seed=3,
                                  repeat_factors=repeat_factors([np.array(c) for c in CLASSES],
                                                                0.4))
    odd.set_epoch(4)
    assert odd.indices() == (whole + whole)[4:15:5]   # padded to 15 from the start


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic_coco(root, num_train=8, num_val=2, image_size=(64, 64))
    return str(root)


def test_training_run_logs_the_repeated_images(synthetic_data, tmp_path):
    result = train(synthetic_data, tmp_path, "TrainReader.oversample_thr=0.5", "epoch=1")
    log = result.stdout + result.stderr
    assert "oversample_thr 0.5:" in log and "images per epoch" in log
    assert (tmp_path / "output" / "fcos_r18_lite_synthetic" / "model_final.pdparams").exists()


def test_bad_threshold_and_eval_reader_are_refused_in_one_line(synthetic_data, tmp_path):
    for setting, fragment in (("TrainReader.oversample_thr=2", "must be a class frequency"),
                              ("EvalReader.oversample_thr=0.1", "under TrainReader only")):
        result = run_tool("train", base_args(synthetic_data, f"save_dir={tmp_path}", setting,
                                             "epoch=1") + ["--eval"], str(tmp_path),
                          timeout=300)
        assert_one_line_error(result, "oversample_thr", fragment)
