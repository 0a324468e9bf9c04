"""Config loading: _BASE_ chains, merging, tags, overrides, validation errors."""
import os
import subprocess
import sys

import pytest

import ppfcos
from ppfcos.core.config import ConfigError, load_config, parse_overrides

from conftest import CONFIGS, REPO


def test_base_chain_relative_nested_and_later_wins(write_yaml):
    write_yaml("cfg/base/a.yml", "epoch: 1\nFPN: {out_channel: 64, extra_stage: 1}\n")
    write_yaml("cfg/base/b.yml", "_BASE_: a.yml\nepoch: 2\nFPN: {extra_stage: 2}\n")
    path = write_yaml("cfg/top.yml", "_BASE_: ['base/b.yml']\nlog_iter: 5\n"
                                     "FPN: {has_extra_convs: true}\n")
    cfg = load_config(path)
    assert cfg["epoch"] == 2 and cfg["log_iter"] == 5
    assert cfg["FPN"] == {"out_channel": 64, "extra_stage": 2, "has_extra_convs": True}
    assert cfg.origin("FPN", "out_channel").endswith(os.path.join("base", "a.yml"))
    assert cfg.origin("FPN", "extra_stage").endswith(os.path.join("base", "b.yml"))
    assert cfg.origin("log_iter").endswith("top.yml")
    assert cfg.name == "top"


def test_lists_are_replaced_not_merged(write_yaml):
    write_yaml("a.yml", "ResNet: {return_idx: [0, 1, 2, 3]}\n")
    cfg = load_config(write_yaml("b.yml", "_BASE_: a.yml\nResNet: {return_idx: [1, 2]}\n"))
    assert cfg["ResNet"]["return_idx"] == [1, 2]


def test_tag_and_name_spellings_are_the_same(write_yaml):
    tagged = load_config(write_yaml("t.yml", "TrainDataset:\n  !COCODataSet\n    image_dir: x\n"
                                             "LearningRate:\n  schedulers:\n"
                                             "  - !PiecewiseDecay {gamma: 0.1}\n"
                                             "  - !LinearWarmup {steps: 5}\n"
                                             "  - !CosineDecay {max_epochs: 3}\n"))
    named = load_config(write_yaml("n.yml", "TrainDataset: {name: COCODataSet, image_dir: x}\n"))
    assert tagged["TrainDataset"] == named["TrainDataset"] == {"name": "COCODataSet",
                                                               "image_dir": "x"}
    assert [s["name"] for s in tagged["LearningRate"]["schedulers"]] == [
        "PiecewiseDecay", "LinearWarmup", "CosineDecay"]


def test_changing_a_named_dict_replaces_it(write_yaml):
    write_yaml("a.yml", "TrainDataset: {name: COCODataSet, image_dir: train2017}\n")
    cfg = load_config(write_yaml("b.yml", "_BASE_: a.yml\n"
                                          "TrainDataset: {name: VOCDataSet, label_list: l.txt}\n"))
    assert cfg["TrainDataset"] == {"name": "VOCDataSet", "label_list": "l.txt"}


def test_overrides_are_yaml_typed_and_nested(write_yaml):
    path = write_yaml("a.yml", "epoch: 12\nFCOSHead: {fcos_loss: {name: FCOSLoss}}\n")
    cfg = load_config(path, ["epoch=1", "FCOSHead.fcos_loss.loss_gamma=1.5",
                             "FCOSHead.fpn_stride=[8, 16]", "use_gpu=false",
                             "weights=out/model_final"])
    assert cfg["epoch"] == 1
    assert cfg["FCOSHead"]["fcos_loss"] == {"name": "FCOSLoss", "loss_gamma": 1.5}
    assert cfg["FCOSHead"]["fpn_stride"] == [8, 16]
    assert cfg["use_gpu"] is False and cfg["weights"] == "out/model_final"
    assert "(-o)" in cfg.origin("epoch")
    assert parse_overrides(["a.b.c=x"]) == {"a": {"b": {"c": "x"}}}


@pytest.mark.parametrize("bad", ["epoch", "=3", "a..b=1"])
def test_malformed_override(write_yaml, bad):
    with pytest.raises(ConfigError, match="override"):
        load_config(write_yaml("a.yml", "epoch: 1\n"), [bad])


def test_misspelled_key_names_file_section_key_and_accepted(write_yaml):
    write_yaml("base.yml", "FCOSHead:\n  fcos_loss:\n    name: FCOSLoss\n    loss_gama: 2.0\n")
    path = write_yaml("top.yml", "_BASE_: base.yml\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "base.yml" in msg and "FCOSHead.fcos_loss" in msg and "'loss_gama'" in msg
    assert "Did you mean 'loss_gamma'" in msg and "iou_loss_type" in msg


def test_misspelled_section_key(write_yaml):
    with pytest.raises(ConfigError) as err:
        load_config(write_yaml("a.yml", "ResNet: {depht: 50}\n"))
    assert "section ResNet" in str(err.value) and "'depth'" in str(err.value)


def test_unknown_top_level_key(write_yaml):
    with pytest.raises(ConfigError) as err:
        load_config(write_yaml("a.yml", "FCOSHeed: {num_classes: 3}\n"))
    assert "a.yml" in str(err.value) and "Did you mean 'FCOSHead'" in str(err.value)


def test_unknown_component_in_spec(write_yaml):
    with pytest.raises(ConfigError) as err:
        load_config(write_yaml("a.yml", "FCOSHead: {fcos_loss: {name: FCOSLos}}\n"))
    assert "FCOSHead.fcos_loss" in str(err.value) and "FCOSLoss" in str(err.value)


def test_unknown_component_by_section_name_fails_at_build(write_yaml):
    cfg = load_config(write_yaml("a.yml", "architecture: FCOS\n"
                                          "FCOS: {backbone: ResNett, neck: FPN}\n"))
    with pytest.raises(ConfigError) as err:
        ppfcos.build_model(cfg)
    assert "FCOS.backbone" in str(err.value) and "Did you mean ResNet" in str(err.value)


def test_missing_base_and_cycles(write_yaml):
    with pytest.raises(ConfigError, match="nope.yml"):
        load_config(write_yaml("a.yml", "_BASE_: nope.yml\n"))
    write_yaml("x.yml", "_BASE_: y.yml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(write_yaml("y.yml", "_BASE_: x.yml\n"))


def test_invalid_yaml_and_missing_file(write_yaml, tmp_path):
    path = write_yaml("a.yml", "epoch: [1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: not valid YAML: ")
    assert f'in "{path}", line 2' in str(err.value)
    image = tmp_path / "photo.yml"
    image.write_bytes(b"\xff\xd8\xff\xe0 a JPEG")
    with pytest.raises(ConfigError, match="photo.yml: not a text file \\(byte 0 is not UTF-8\\)"):
        load_config(str(image))
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/config.yml")


def test_value_conflicting_with_the_network_is_an_error(write_yaml):
    path = os.path.join(CONFIGS, "fcos_r50_fpn_1x_coco.yml")
    cfg = load_config(path, ["FCOSHead.fcos_feat.feat_in=128"])
    with pytest.raises(ConfigError) as err:
        ppfcos.build_model(cfg)
    assert "feat_in is 128" in str(err.value) and "256" in str(err.value)


def test_print_config_tool():
    cmd = [sys.executable, "tools/print_config.py", "-c", "configs/fcos_r50_fpn_1x_coco.yml",
           "-o", "epoch=3", "--origins"]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True,
                         timeout=120).stdout
    assert "epoch: 3" in out and "milestones: [8, 11]" in out and "name: PiecewiseDecay" in out
    assert "optimizer_1x.yml" in out
    bad = subprocess.run(cmd[:4] + ["-o", "ResNet.dpth=5"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and "unknown key 'dpth'" in bad.stderr


def test_aliases_within_the_budget_load_and_endless_ones_are_refused(write_yaml):
    cfg = load_config(write_yaml("ok.yml", "TrainReader: {sample_transforms: &ops [{Decode: {}}]}\n"
                                           "EvalReader: {sample_transforms: *ops}\n"))
    assert cfg["EvalReader"]["sample_transforms"] == [{"Decode": {}}]
    with pytest.raises(ConfigError, match="stands for a value that contains it"):
        load_config(write_yaml("endless.yml", "epoch: &a [1, *a]\n"))


def test_an_override_is_bounded_like_a_file(write_yaml):
    path = write_yaml("a.yml", "epoch: 1\n")
    bomb = "[" + ", ".join(f"&l{i} [" + ", ".join([f"*l{i - 1}" if i else "1"] * 9) + "]"
                           for i in range(8)) + "]"
    with pytest.raises(ConfigError, match=r"override 'epoch=\[&l0 .*repeat \d+ values, over"):
        load_config(path, ["epoch=" + bomb])
    with pytest.raises(ConfigError, match="is 8000006 characters, over the limit of 262144"):
        load_config(path, ["epoch=" + "x" * 8_000_000])


def test_base_must_name_files_and_bases_resolve_as_paddledetection_merges(write_yaml):
    with pytest.raises(ConfigError, match=r"_BASE_ must be a file path or a list of file paths, "
                                          r"got \[1, 2\]"):
        load_config(write_yaml("bad.yml", "_BASE_: [1, 2]\n"))
    write_yaml("d.yml", "epoch: 1\nlog_iter: 1\n")
    write_yaml("b.yml", "_BASE_: d.yml\nepoch: 2\n")
    write_yaml("c.yml", "_BASE_: d.yml\nlog_iter: 3\n")
    cfg = load_config(write_yaml("top.yml", "_BASE_: [b.yml, c.yml]\n"))
    # c, resolved with its own base d, goes on top of b: d's epoch comes back with it
    assert (cfg["epoch"], cfg["log_iter"]) == (1, 3)
    assert cfg.origin("epoch").endswith("d.yml") and cfg.origin("log_iter").endswith("c.yml")


@pytest.mark.parametrize("override, message", [
    ("LearningRate.lerning_rate=0.1", "section LearningRate: unknown key 'lerning_rate'"),
    ("OptimizerBuilder.clip_grad_by_nrom=1.0",
     "section OptimizerBuilder: unknown key 'clip_grad_by_nrom'. Did you mean 'clip_grad_by_norm'?"),
    ("LearningRate.schedulers=[{name: CosineDecay, max_epoch: 3}]",
     "section LearningRate.schedulers.0: unknown key 'max_epoch'. Did you mean 'max_epochs'?"),
    ("TrainReader.sample_transforms=[{Decod: {}}]",
     "TrainReader.sample_transforms: unknown transform 'Decod'. Did you mean 'Decode'?"),
    ("EvalReader.batch_transforms=[{PadBatch: {pad_to: 32}}]",
     "section EvalReader.batch_transforms.PadBatch: unknown key 'pad_to'"),
    ("TestReader=3", "section TestReader must be a mapping of its settings"),
])
def test_plain_sections_are_checked_when_loading(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(os.path.join(CONFIGS, "fcos_r50_fpn_1x_coco.yml"), [override])
    assert str(err.value).startswith(f"command line (-o): {message}"), str(err.value)


def test_values_nested_past_the_limit_are_refused(write_yaml):
    load_config(write_yaml("ok.yml", "weights: " + "[" * 30 + "]" * 30 + "\n"))
    for levels, message in [(40, "its values nest 41 levels deep, over the limit of 32"),
                            (5000, "its values nest hundreds of levels deep")]:
        with pytest.raises(ConfigError, match=message):
            load_config(write_yaml("deep.yml", "weights: " + "[" * levels + "]" * levels + "\n"))
