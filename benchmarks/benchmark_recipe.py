"""The recipe table for small datasets: the demo network on 300 synthetic training images.

    python benchmarks/benchmark_recipe.py [--work_dir output/recipe] [--seeds 0 1]
        [--num_train 300] [--nproc_per_node 2] [--table_only]

Makes the synthetic dataset (--num_train training images of 160x160 and the standard 200
validation images, tools/make_synthetic_coco.py) unless --work_dir/data holds it, then for
each recipe and seed trains its config under configs/demo/ for the demo's epochs with
``python -m paddle.distributed.launch --nproc_per_node N tools/train.py -c CONFIG --seed S``
(no --eval), and scores model_final with tools/eval.py; the last recipe is the EMA and
augmentation model evaluated with --tta. Each run's mAP and wall time go to
--work_dir/results.json as soon as it ends, and a run found there is not repeated, so an
interrupted table continues where it stopped. Prints a Markdown table: mAP per seed and its
mean, mean training and evaluation wall time; runs not measured are marked so. Each run's
output is in --work_dir/runs/. --table_only prints the table of results.json without running
anything. Exit status 1 when a run fails (its log is named) or results.json is unreadable.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEMO = os.path.join("configs", "demo", "fcos_r18_lite_synthetic")
# (row label, config, evaluate with --tta): the TTA row evaluates the model of the row before.
RECIPES = (("zoo recipe", DEMO + ".yml", False),
           ("+EMA", DEMO + "_ema.yml", False),
           ("+augmentation", DEMO + "_aug.yml", False),
           ("+EMA +augmentation", DEMO + "_ema_aug.yml", False),
           ("+EMA +augmentation, eval --tta", DEMO + "_ema_aug.yml", True))
# pycocotools' summary line of the COCO mAP (IoU 0.50:0.95, all areas).
MAP_LINE = re.compile(r"Average Precision\s+\(AP\) @\[ IoU=0\.50:0\.95 \| area=\s*all "
                      r"\| maxDets=100 \] = (-?[\d.]+)")


class RunFailed(Exception):
    """A training or evaluation subprocess exited with an error (the message names its log)."""


def run_logged(cmd, log_path):
    """Run cmd from the repository root with its output in log_path; return the wall seconds."""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        code = subprocess.call(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        raise RunFailed(f"{' '.join(cmd[:6])} ... exited with status {code}; see {log_path}")
    return time.perf_counter() - start


def dataset_options(data_dir):
    """-o overrides pointing the train and eval datasets at data_dir."""
    return [f"TrainDataset.dataset_dir={data_dir}", f"EvalDataset.dataset_dir={data_dir}"]


def train(config, seed, args, data_dir, run_dir):
    """Train config with seed into run_dir; return (model_final path, wall seconds)."""
    cmd = [sys.executable, "-m", "paddle.distributed.launch",
           "--nproc_per_node", str(args.nproc_per_node), "--log_dir",
           os.path.join(run_dir, "launch_log"), "tools/train.py", "-c", config,
           "--seed", str(seed), "-o", f"save_dir={run_dir}", *dataset_options(data_dir)]
    seconds = run_logged(cmd, os.path.join(run_dir, "train.log"))
    name = os.path.splitext(os.path.basename(config))[0]
    return os.path.join(run_dir, name, "model_final"), seconds


def evaluate(config, weights, tta, data_dir, log_path):
    """Score weights on the validation set; return (COCO mAP, wall seconds)."""
    cmd = [sys.executable, "tools/eval.py", "-c", config, "-o", f"weights={weights}",
           *dataset_options(data_dir), "--output_eval", os.path.dirname(log_path)]
    seconds = run_logged(cmd + (["--tta"] if tta else []), log_path)
    with open(log_path) as log:
        found = MAP_LINE.findall(log.read())
    if not found:
        raise RunFailed(f"no COCO mAP line in {log_path}")
    return float(found[-1]), seconds


def load_results(path):
    """The results of an earlier run from path, or empty ones when there is no such file."""
    if not os.path.exists(path):
        return {"cells": {}}
    move_away = "move it away to start the table again"
    try:
        with open(path) as f:
            results = json.load(f)
    except ValueError as e:
        raise RunFailed(f"{path} is not JSON ({e}); {move_away}")
    if not isinstance(results, dict) or not isinstance(results.get("cells"), dict):
        raise RunFailed(f"{path} has no 'cells' object, so it is not a results file of this "
                        f"script; {move_away}")
    return results


def save(results, path):
    """Write results to path (JSON), so that an interrupted table keeps what it measured."""
    with open(path, "w") as f:
        json.dump(results, f, indent=1)


def measure(config, tta, seed, args, data_dir, results, results_path):
    """Train (or reuse the training of the same config and seed) and evaluate one table cell."""
    run_dir = os.path.join(args.work_dir, "runs", f"{os.path.basename(config)[:-4]}_seed{seed}")
    os.makedirs(run_dir, exist_ok=True)
    trained = results.setdefault("trainings", {}).get(run_dir)
    if trained is None:
        weights, seconds = train(config, seed, args, data_dir, run_dir)
        trained = results["trainings"][run_dir] = {"weights": weights, "train_s": seconds}
        save(results, results_path)
    log_path = os.path.join(run_dir, "eval_tta.log" if tta else "eval.log")
    mAP, eval_s = evaluate(config, trained["weights"], tta, data_dir, log_path)
    return {"mAP": mAP, "train_s": trained["train_s"], "eval_s": eval_s}


def table(results, seeds):
    """The Markdown table of results["cells"]; a cell not measured shows 'not measured'."""
    head = ["recipe", "config"] + [f"mAP seed {s}" for s in seeds] + [
        "mAP mean", "train wall time (mean)", "eval wall time (mean)"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for label, config, _ in RECIPES:
        cells = [results["cells"].get(f"{label}/{s}") for s in seeds]
        done = [c for c in cells if c]
        row = [label, os.path.basename(config)] + [
            f"{c['mAP']:.3f}" if c else "not measured" for c in cells]
        if len(done) == len(cells):
            row += [f"{statistics.mean(c['mAP'] for c in done):.3f}",
                    f"{statistics.mean(c['train_s'] for c in done):.0f} s",
                    f"{statistics.mean(c['eval_s'] for c in done):.0f} s"]
        else:
            row += ["not measured"] * 3
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work_dir", default="output/recipe",
                        help="data, runs, logs and results.json (default output/recipe)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1],
                        help="training seeds (default 0 1)")
    parser.add_argument("--num_train", type=int, default=300,
                        help="synthetic training images (default 300)")
    parser.add_argument("--nproc_per_node", type=int, default=2,
                        help="training processes, as the README's demo (default 2)")
    parser.add_argument("--table_only", action="store_true",
                        help="print the table of --work_dir/results.json, run nothing")
    args = parser.parse_args(argv)
    args.work_dir = os.path.abspath(args.work_dir)
    data_dir = os.path.join(args.work_dir, "data")
    results_path = os.path.join(args.work_dir, "results.json")
    try:
        results = load_results(results_path)
        if args.table_only:
            print(table(results, args.seeds))
            return
        if not os.path.isdir(os.path.join(data_dir, "annotations")):
            os.makedirs(args.work_dir, exist_ok=True)
            run_logged([sys.executable, "tools/make_synthetic_coco.py", "--out", data_dir,
                        "--num-train", str(args.num_train), "--image-size", "160"],
                       os.path.join(args.work_dir, "make_data.log"))
        for label, config, tta in RECIPES:
            for seed in args.seeds:
                key = f"{label}/{seed}"
                if key not in results["cells"]:
                    results["cells"][key] = measure(config, tta, seed, args, data_dir, results,
                                                    results_path)
                    save(results, results_path)
                print(f"{key}: {results['cells'][key]}", flush=True)
    except RunFailed as e:
        sys.exit(f"benchmark_recipe: {e}")
    print(table(results, args.seeds))


if __name__ == "__main__":
    main()
