"""create_reader: config handling, building through core.builder, skipped images, shared
memory, sharding."""
import json
import logging
import os

import cv2
import numpy as np
import pytest

from ppfcos.core.config import Config, ConfigError
from ppfcos.core.registry import register
from ppfcos.data.datasets import COCODataSet
from ppfcos.data import loader as loader_module
from ppfcos.data.reader import build_dataset, build_ops, create_reader
from ppfcos.data.sampler import DistributedBatchSampler


@register
class RecordPid:
    """Test op: remember which process transformed the sample."""

    def __call__(self, sample):
        sample["pid"] = np.array([os.getpid()])
        return sample


def make_coco(root, num_images=6, empty=()):
    """Images of different sizes with i % 3 + 1 boxes each (none for ids in ``empty``)."""
    os.makedirs(root / "images")
    images, anns = [], []
    for i in range(1, num_images + 1):
        h, w = 32 + 8 * (i % 3), 48
        cv2.imwrite(str(root / "images" / f"{i}.jpg"), np.full((h, w, 3), i * 20, np.uint8))
        images.append({"id": i, "file_name": f"{i}.jpg", "height": h, "width": w})
        for k in range(0 if i in empty else i % 3 + 1):
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "iscrowd": 0,
                         "bbox": [k, k, 10, 10], "area": 100})
    (root / "ann.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}))


def make_cfg(root, worker_num=0, **reader_opts):
    data = {
        "worker_num": worker_num,
        "TrainDataset": {"name": "COCODataSet", "dataset_dir": str(root), "image_dir": "images",
                         "anno_path": "ann.json",
                         "data_fields": ["image", "gt_bbox", "gt_class", "is_crowd"]},
        "TrainReader": {"sample_transforms": [{"Decode": {}}, {"Permute": {}}],
                        "batch_transforms": [{"PadBatch": {"pad_to_stride": 32}}],
                        "batch_size": 2, **reader_opts},
    }
    return Config(data, {}, str(root / "cfg.yml"))


@pytest.fixture
def coco_root(tmp_path):
    make_coco(tmp_path)
    return tmp_path


def test_batches_stack_fixed_shapes_and_keep_ground_truth_per_image(coco_root):
    loader = create_reader(make_cfg(coco_root), "train", num_replicas=1, rank=0)
    batches = list(loader)
    assert len(batches) == len(loader) == 3
    batch = batches[0]
    assert list(batch["image"].shape) == [2, 3, 64, 64]
    assert list(batch["im_shape"].shape) == [2, 2] and list(batch["im_id"].shape) == [2, 1]
    assert [int(b.shape[0]) for b in batch["gt_bbox"]] == [2, 3]  # images 1 and 2
    assert [list(c.shape) for c in batch["gt_class"]] == [[2, 1], [3, 1]]
    assert "h" not in batch and "w" not in batch
    assert loader.skipped == []


@pytest.mark.parametrize("worker_num", [0, 2])
def test_unreadable_images_are_skipped_logged_and_counted(tmp_path, caplog, worker_num):
    make_coco(tmp_path, num_images=6, empty=(5,))
    os.remove(tmp_path / "images" / "2.jpg")
    (tmp_path / "images" / "3.jpg").write_bytes(b"\xff\xd8 corrupt")
    (tmp_path / "images" / "4.jpg").write_bytes(b"")
    cfg = make_cfg(tmp_path, worker_num=worker_num, use_shared_memory=True)
    cfg["TrainDataset"]["allow_empty"] = True
    cfg["TrainReader"]["batch_size"] = 1
    cfg["TrainReader"]["sample_transforms"].append({"RecordPid": {}})
    loader = create_reader(cfg, "train", num_replicas=1, rank=0)
    with caplog.at_level(logging.WARNING, logger="ppfcos.data.loader"):
        batches = list(loader)
    assert sorted(int(b["im_id"][0, 0]) for b in batches) == [1, 5, 6]  # the epoch completes
    pids = {int(b["pid"][0, 0]) for b in batches}
    assert (os.getpid() in pids) == (worker_num == 0)
    assert len(loader.skipped) == 3
    for name in ["2.jpg", "3.jpg", "4.jpg"]:
        assert any(name in r.getMessage() and "skipped" in r.getMessage()
                   for r in caplog.records)
    assert "3 image(s) skipped (unreadable" in caplog.records[-1].getMessage()
    # next epoch counts afresh
    assert len(list(loader)) == 3 and len(loader.skipped) == 3


def test_unreadable_batch_in_distributed_training_is_an_error_not_a_hang(tmp_path):
    make_coco(tmp_path, num_images=4)
    os.remove(tmp_path / "images" / "1.jpg")
    cfg = make_cfg(tmp_path, worker_num=0)
    cfg["TrainReader"].update(batch_size=1, shuffle=False)
    loader = create_reader(cfg, "train", num_replicas=2, rank=0)  # rank 0 gets images 1 and 3
    with pytest.raises(RuntimeError, match="1.jpg.*fall out of step"):
        list(loader)


def test_image_without_boxes_passes_through_workers_as_empty_tensor(tmp_path):
    make_coco(tmp_path, num_images=2, empty=(1,))
    cfg = make_cfg(tmp_path, worker_num=2, use_shared_memory=True)
    cfg["TrainDataset"]["allow_empty"] = True
    batch = next(iter(create_reader(cfg, "train", num_replicas=1, rank=0)))
    assert [list(b.shape) for b in batch["gt_bbox"]] == [[3, 4], [0, 4]]  # empty images last
    assert str(batch["gt_bbox"][1].dtype).endswith("float32")


def test_shared_memory_falls_back_with_one_warning(coco_root, monkeypatch, caplog):
    monkeypatch.setattr(loader_module, "_shm_warned", [])
    monkeypatch.setattr(loader_module, "shared_memory_free", lambda: 64 << 20)
    cfg = make_cfg(coco_root, worker_num=2, use_shared_memory=True)
    with caplog.at_level(logging.WARNING, logger="ppfcos.data.loader"):
        first = create_reader(cfg, "train", num_replicas=1, rank=0)
        create_reader(cfg, "train", num_replicas=1, rank=0)
    warnings = [r for r in caplog.records if "/dev/shm" in r.getMessage()]
    assert len(warnings) == 1 and "64 MiB" in warnings[0].getMessage()
    assert first.dataloader.use_shared_memory is False
    assert len(list(first)) == 3
    monkeypatch.setattr(loader_module, "shared_memory_free", lambda: 8 << 30)
    assert create_reader(cfg, "train", num_replicas=1, rank=0).dataloader.use_shared_memory


def test_unknown_transform_names_file_section_and_choices(coco_root):
    cfg = make_cfg(coco_root)
    cfg["TrainReader"]["sample_transforms"].append({"Resise": {"target_size": 8}})
    with pytest.raises(ConfigError) as err:
        create_reader(cfg, "train", num_replicas=1, rank=0)
    msg = str(err.value)
    assert cfg.path in msg and "TrainReader.sample_transforms" in msg
    assert "'Resise'" in msg and "Did you mean 'Resize'" in msg and "Decode" in msg


def test_bad_transform_argument_lists_accepted_args(coco_root):
    cfg = make_cfg(coco_root)
    cfg["TrainReader"]["batch_transforms"] = [{"PadBatch": {"pad_stride": 32}}]
    with pytest.raises(ConfigError, match=r"TrainReader.batch_transforms.PadBatch: unknown key "
                                          r"'pad_stride'.*Accepted keys: pad_to_stride"):
        create_reader(cfg, "train", num_replicas=1, rank=0)


def test_unknown_dataset_and_reader_keys(coco_root):
    cfg = make_cfg(coco_root)
    cfg["TrainDataset"]["anno_file"] = "x.json"
    with pytest.raises(ConfigError, match=r"TrainDataset: unknown key 'anno_file'.*anno_path"):
        create_reader(cfg, "train", num_replicas=1, rank=0)
    cfg = make_cfg(coco_root, batchsize=4)
    with pytest.raises(ConfigError, match=r"TrainReader: unknown key 'batchsize'"):
        create_reader(cfg, "train", num_replicas=1, rank=0)
    cfg = make_cfg(coco_root, fuse_normalize=True, collate_batch=False, shuffle=True,
                   drop_last=True)
    assert len(create_reader(cfg, "train", num_replicas=1, rank=0)) == 3


@register
class ClassCountDataSet(COCODataSet):
    """Test dataset with a shared key: num_classes falls back to the config's top level."""
    __shared__ = ["num_classes"]

    def __init__(self, dataset_dir=None, image_dir=None, anno_path=None, num_classes=80):
        super().__init__(dataset_dir, image_dir, anno_path)
        self.num_classes = num_classes


def test_datasets_are_built_by_the_core_builder_with_shared_keys(coco_root):
    cfg = make_cfg(coco_root)
    cfg["TrainDataset"] = {"name": "ClassCountDataSet", "dataset_dir": str(coco_root),
                           "image_dir": "images", "anno_path": "ann.json"}
    assert build_dataset(cfg, "TrainDataset").num_classes == 80      # constructor default
    cfg["num_classes"] = 3
    dataset = build_dataset(cfg, "TrainDataset")
    assert dataset.num_classes == 3 and dataset.anno_path == "ann.json"
    cfg["TrainDataset"]["num_classes"] = 5                           # the section wins
    assert build_dataset(cfg, "TrainDataset").num_classes == 5
    cfg["TrainDataset"] = None
    with pytest.raises(ConfigError, match="TrainDataset: must be a mapping with 'name:'"):
        build_dataset(cfg, "TrainDataset")


def test_ops_are_built_in_order_with_their_arguments(coco_root):
    cfg = make_cfg(coco_root)
    cfg["TrainReader"]["sample_transforms"] = [
        {"Decode": None}, {"Resize": {"target_size": [32, 48], "keep_ratio": False}},
        {"Permute": {}}]
    ops = build_ops(cfg, "TrainReader", "sample_transforms")
    assert [type(op).__name__ for op in ops] == ["Decode", "Resize", "Permute"]
    assert ops[1].target_size == [32, 48] and ops[1].keep_ratio is False
    assert build_ops(cfg, "EvalReader", "batch_transforms") == []
    cfg["TrainReader"]["sample_transforms"] = [{"Resize": [32, 48]}]
    with pytest.raises(ConfigError, match=r"sample_transforms: Resize: the arguments must be a "
                                          r"mapping of target_size, keep_ratio, interp"):
        build_ops(cfg, "TrainReader", "sample_transforms")
    cfg["TrainReader"]["sample_transforms"] = [{"Resize": {}}]
    with pytest.raises(ConfigError, match=r"section TrainReader.sample_transforms.Resize must "
                                          r"set target_size"):
        build_ops(cfg, "TrainReader", "sample_transforms")


def test_missing_annotation_error_names_config_key_and_path(coco_root):
    cfg = make_cfg(coco_root)
    cfg["TrainDataset"]["anno_path"] = "annotations/none.json"
    with pytest.raises(ConfigError) as err:
        create_reader(cfg, "train", num_replicas=1, rank=0)
    msg = str(err.value)
    assert "TrainDataset.anno_path" in msg and cfg.path in msg
    assert str(coco_root / "annotations" / "none.json") in msg


def test_given_dataset_is_used(coco_root):
    from ppfcos.data.datasets import ImageFolder
    ds = ImageFolder()
    ds.set_images([str(coco_root / "images" / "1.jpg")])
    cfg = make_cfg(coco_root)
    cfg["TestReader"] = {"sample_transforms": [{"Decode": {}}, {"Permute": {}}],
                         "batch_transforms": [{"PadBatch": {"pad_to_stride": 32}}]}
    batch = next(iter(create_reader(cfg, "test", dataset=ds, num_replicas=1, rank=0)))
    assert list(batch["image"].shape) == [1, 3, 64, 64]
    assert batch["im_file"] == [str(coco_root / "images" / "1.jpg")]


def shards(n, replicas, epoch, batch_size=2, shuffle=True, drop_last=False):
    out = []
    for rank in range(replicas):
        sampler = DistributedBatchSampler(n, batch_size, shuffle, drop_last, replicas, rank, 7)
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


def test_sampler_ranks_are_disjoint_and_cover_the_data():
    a, b = shards(10, 2, epoch=0)
    flat_a, flat_b = sum(a, []), sum(b, [])
    assert not set(flat_a) & set(flat_b)
    assert sorted(flat_a + flat_b) == list(range(10))
    assert flat_a + flat_b != list(range(10))  # shuffled


def test_sampler_pads_so_every_rank_has_the_same_batches():
    per_rank = shards(11, 3, epoch=0)  # 11 -> 12 indices, 4 per rank
    assert [len(batches) for batches in per_rank] == [2, 2, 2]
    flat = sum((sum(b, []) for b in per_rank), [])
    assert len(flat) == 12 and set(flat) == set(range(11))
    sampler = DistributedBatchSampler(11, 3, False, True, 3, 0)
    assert len(sampler) == 1 and list(sampler) == [[0, 3, 6]]


def test_sampler_reshuffles_each_epoch_deterministically():
    assert shards(20, 2, epoch=3) == shards(20, 2, epoch=3)
    assert shards(20, 2, epoch=3) != shards(20, 2, epoch=4)
    sampler = DistributedBatchSampler(20, 4, True, False, 1, 0, seed=7)
    first, second = list(sampler), list(sampler)  # epoch advances without set_epoch
    assert first == shards(20, 1, epoch=0, batch_size=4)[0]
    assert second == shards(20, 1, epoch=1, batch_size=4)[0]
    unshuffled = DistributedBatchSampler(5, 2, False, False, 1, 0)
    assert list(unshuffled) == [[0, 1], [2, 3], [4]] == list(unshuffled)


def test_loader_set_epoch_changes_order_and_defaults_to_paddle_rank(coco_root):
    loader = create_reader(make_cfg(coco_root, shuffle=True), "train")
    assert (loader.batch_sampler.num_replicas, loader.batch_sampler.rank) == (1, 0)
    orders = []
    for epoch in (0, 1, 0):
        loader.set_epoch(epoch)
        orders.append([int(i) for b in loader for i in b["im_id"][:, 0]])
    assert orders[0] == orders[2] != orders[1]
    assert sorted(orders[1]) == list(range(1, 7))
