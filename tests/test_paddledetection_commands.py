"""The tools run with commands spelled as PaddleDetection's docs spell them (real processes):
switches as ``--flag``, ``--flag=true``, ``--flag=True``, ``--flag False``; eval's
``--save_prediction_only`` and ``--json_eval``; infer's ``--infer_list``,
``--save_threshold``, ``--visualize``; bbox.json with the dataset's category ids; and
one-line errors for PaddleDetection flags ppfcos does not implement."""
import json
import os
import re
import subprocess
import sys

import paddle
import pytest

import ppfcos
from conftest import CONFIGS, PROGRAM_FILE, REPO, export_listing, load_tool
from ppfcos.modeling.seeded_weights import seed_weights
from ppfcos.data.synthetic import make_synthetic_coco
from ppfcos_runtime.output_dir import RECORD

DEMO = os.path.join(CONFIGS, "demo", "fcos_r18_lite_synthetic.yml")
TINY = ["ResNet.base_channels=8", "ResNet.ch_in=8", "FPN.out_channel=16",
        "FCOSHead.fcos_feat.feat_out=16", "TrainReader.batch_size=2", "epoch=1",
        "LearningRate.schedulers=[{name: CosineDecay, max_epochs: 1}]", "log_iter=1"]
# The dataset's category ids are 10, 20, ..., 60, so they cannot pass for class indices.
CATEGORY_ID = {index: 10 * (index + 1) for index in range(6)}
STAT_LINE = re.compile(r"Average (Precision|Recall) .* = -?\d\.\d{3}")


def run(*args):
    """Run a tool -> CompletedProcess with ``output``: its stdout and stderr (the log)."""
    done = subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    done.output = done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(overrides for a tiny demo network on 4+4 synthetic images, weights path, root)."""
    root = tmp_path_factory.mktemp("ppdet_commands")
    data = root / "data"
    make_synthetic_coco(str(data), num_train=4, num_val=4, image_size=(64, 64))
    for split in ("train", "val"):
        path = data / "annotations" / f"instances_{split}.json"
        coco = json.loads(path.read_text())
        for item in coco["categories"]:
            item["id"] = CATEGORY_ID[item["id"] - 1]
        for item in coco["annotations"]:
            item["category_id"] = CATEGORY_ID[item["category_id"] - 1]
        path.write_text(json.dumps(coco))
    overrides = TINY + [f"{section}.dataset_dir={data}"
                        for section in ("TrainDataset", "EvalDataset", "TestDataset")]
    cfg = ppfcos.load_config(DEMO, overrides)
    weights = str(root / "tiny.pdparams")
    paddle.save(seed_weights(ppfcos.build_model(cfg)).state_dict(), weights)
    return overrides + [f"weights={weights}", f"save_dir={root / 'output'}"], root


def stat_lines(text):
    return [line.split("] = ")[-1] for line in text.splitlines() if STAT_LINE.search(line)]


def test_train_takes_paddledetection_switch_spellings(setup):
    overrides, root = setup
    done = run("tools/train.py", "-c", DEMO, "--eval=False", "--use_vdl=true",
               "--vdl_log_dir", root / "vdl", "--amp", "False", "-o", *overrides)
    assert done.returncode == 0, done.stderr[-3000:]
    written = os.listdir(root / "output" / "fcos_r18_lite_synthetic")
    assert "model_final.pdparams" in written and "best_model.pdparams" not in written  # no eval
    assert os.listdir(root / "vdl")                       # --use_vdl=true logged


def test_eval_save_prediction_only_and_json_eval_give_the_normal_evaluation(setup, tmp_path,
                                                                          capsys):
    overrides, _ = setup
    normal = run("tools/eval.py", "-c", DEMO, "--classwise=True", "--output_eval",
                 tmp_path / "normal", "-o", *overrides)
    assert normal.returncode == 0, normal.stderr[-3000:]
    stats = stat_lines(normal.output)
    assert len(stats) == 12     # untrained weights score ~0: tests/evaluation/metrics checks
    #                             non-zero stats

    saved = run("tools/eval.py", "-c", DEMO, "--save_prediction_only", "--output_eval",
                tmp_path / "saved", "-o", *overrides)
    assert saved.returncode == 0, saved.stderr[-3000:]
    assert stat_lines(saved.output) == [] and "not evaluated" in saved.output
    records = json.loads((tmp_path / "saved" / "bbox.json").read_text())
    assert records == json.loads((tmp_path / "normal" / "bbox.json").read_text())
    assert records and {r["category_id"] for r in records} <= set(CATEGORY_ID.values())
    assert all(set(r) == {"image_id", "category_id", "bbox", "score"} and len(r["bbox"]) == 4
               for r in records)

    rescored = run("tools/eval.py", "-c", DEMO, "--json_eval", "--output_eval",
                   tmp_path / "saved", "--classwise", "True", "-o", *overrides)
    assert rescored.returncode == 0, rescored.stderr[-3000:]
    assert stat_lines(rescored.output) == stats
    assert load_tool("eval").main(["-c", DEMO, "--json_eval=true", "--output_eval",
                                   str(tmp_path / "nothing"), "-o", *overrides]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        f"error: --json_eval scores {tmp_path / 'nothing' / 'bbox.json'}, which does not exist")


def test_infer_list_save_threshold_visualize_and_category_ids(setup, tmp_path):
    overrides, root = setup
    val = root / "data" / "val"
    (tmp_path / "list.txt").write_text("000002.jpg\n000004.jpg\n")
    done = run("tools/infer.py", "-c", DEMO, "--infer_dir", val, "--infer_list",
               tmp_path / "list.txt", "--save_results=True", "--visualize", "False",
               "--save_threshold", "0.1", "--draw_threshold", "0.9", "--output_dir",
               tmp_path / "out", "-o", *overrides)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(os.listdir(tmp_path / "out")) == [RECORD, "bbox.json"]   # --visualize False
    records = json.loads((tmp_path / "out" / "bbox.json").read_text())
    assert {os.path.basename(r["image"]) for r in records} == {"000002.jpg", "000004.jpg"}
    assert records and min(r["score"] for r in records) >= 0.1
    names = json.loads((root / "data" / "annotations" / "instances_val.json").read_text())
    name_of = {c["id"]: c["name"] for c in names["categories"]}
    assert all(r["category"] == name_of[r["category_id"]] for r in records)

    # one slice covering each 64x64 image: exactly the unsliced detections
    sliced = run("tools/infer.py", "-c", DEMO, "--infer_dir", val, "--infer_list",
                 tmp_path / "list.txt", "--save_results", "--visualize=false",
                 "--save_threshold", "0.1", "--slice_infer", "--slice_size", 64, 64,
                 "--combine_method", "concat", "--output_dir", tmp_path / "sliced",
                 "-o", *overrides)
    assert sliced.returncode == 0, sliced.stderr[-3000:]
    assert json.loads((tmp_path / "sliced" / "bbox.json").read_text()) == records

    drawn = run("tools/infer.py", "-c", DEMO, "--infer_img", val / "000001.jpg",
                "--visualize", "--output_dir", tmp_path / "drawn", "-o", *overrides)
    assert drawn.returncode == 0, drawn.stderr[-3000:]
    assert sorted(os.listdir(tmp_path / "drawn")) == [RECORD, "000001.jpg"]


def test_export_then_deploy_with_paddledetection_spellings(setup, tmp_path):
    overrides, root = setup
    done = run("tools/export_model.py", "-c", DEMO, "--output_dir", tmp_path,
               "--export_onnx=False", "-o", *overrides)
    assert done.returncode == 0, done.stderr[-3000:]
    model_dir = tmp_path / "fcos_r18_lite_synthetic"
    assert export_listing(model_dir) == sorted(["infer_cfg.yml", PROGRAM_FILE, "model.pdiparams"])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    deploy = subprocess.run(
        [sys.executable, "deploy/python/infer.py", "--model_dir", str(model_dir),
         "--image_file", str(root / "data" / "val" / "000001.jpg"), "--enable_mkldnn=False",
         "--run_benchmark=True", "--save_results", "--threshold", "0.1", "--output_dir",
         str(tmp_path / "deployed"), "--cpu_threads", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert deploy.returncode == 0, deploy.stderr[-3000:]
    assert "benchmark over 1 image(s)" in deploy.stdout
    records = json.loads((tmp_path / "deployed" / "bbox.json").read_text())
    assert records and {r["category_id"] for r in records} <= set(CATEGORY_ID.values())


@pytest.mark.parametrize("tool,flag", [
    ("train", "--slim_config"), ("train", "--fleet"), ("eval", "--slim_config"),
    ("infer", "--slim_config"), ("infer", "--use_vdl=True"), ("export_model", "--slim_config"),
    ("export_model", "--export_serving_model=True")])
def test_an_unsupported_paddledetection_flag_is_a_one_line_error(tool, flag, capsys):
    with pytest.raises(SystemExit) as stop:
        load_tool(tool).main(["-c", DEMO, flag, *(["slim.yml"] if "slim" in flag else [])])
    assert stop.value.code == 2
    assert_one_line_advice(capsys.readouterr().err, flag.split("=")[0])


def test_deploy_names_the_flag_to_use_instead_of_an_unsupported_one():
    done = run("deploy/python/infer.py", "--model_dir", "m", "--image_file", "x.jpg",
               "--use_gpu=True")
    assert done.returncode == 2
    assert_one_line_advice(done.stderr, "--use_gpu")


def assert_one_line_advice(stderr, flag):
    lines = [line for line in stderr.splitlines() if "Warn" not in line
             and "warnings.warn" not in line]
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag} is not supported"), lines
    assert "use " in lines[0].partition("is not supported")[2]
