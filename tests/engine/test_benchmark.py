"""benchmarks/benchmark.py: every part runs on a small input and writes its figures; the training
batch carries the config's FCOS targets; the memory check reports growth."""
import json
import os

from conftest import CONFIGS, load_tool
from ppfcos import load_config
from ppfcos.engine import benchmark

benchmark_tool = load_tool("benchmark", folder="benchmarks")

DEMO = os.path.join(CONFIGS, "demo", "fcos_r18_lite_synthetic.yml")


def test_train_batch_has_the_configs_targets():
    batch = benchmark.train_batch(load_config(DEMO), 2, 64, 96)
    assert list(batch["image"].shape) == [2, 3, 64, 96]
    # the demo's three levels (strides 8, 16, 32)
    assert sorted(k for k in batch if k.startswith("labels")) == ["labels0", "labels1", "labels2"]
    assert list(batch["reg_target0"].shape) == [2, 8, 12, 4]
    assert int((batch["labels0"].numpy() > 0).sum()) > 0


def test_every_part_writes_its_figures(tmp_path, capsys):
    code = benchmark_tool.main(["-c", DEMO, "--parts", "train", "memory", "eval", "deploy",
                                "reader", "--train_size", "64", "64", "--eval_size", "64", "96",
                                "--iters", "1", "--warmup", "0", "--memory_steps", "12",
                                "--output", str(tmp_path)])
    assert code == 0
    with open(tmp_path / "fcos_r18_lite_synthetic.json") as f:
        results = json.load(f)
    assert results["train"]["step_s"] > 0 and results["train"]["peak_rss_mb"] > 100
    assert results["memory"]["steps"] == 12 and "growth_mb" in results["memory"]
    assert results["eval"]["latency_s"] > 0
    settings = {(r["threads"], r["onednn"]) for r in results["deploy"]["rows"]}
    assert {(1, False), (1, True)} <= settings and len(settings) == 2 * len(
        {1, os.cpu_count()})
    assert 0 < results["reader"]["images"] <= 2 * 64 and results["reader"]["images_per_s"] > 0
    printed = capsys.readouterr().out
    assert "| training step, batch 2 at 64x64 |" in printed and "oneDNN on" in printed
