"""benchmarks/benchmark_recipe.py --table_only: the recipe table printed from a results.json, with
per-seed and mean figures, the cells not measured marked so, and an unreadable results.json
refused in one line without being touched. (The trainings themselves take minutes each; the
figures they made are in docs/training.md "Recipes for small datasets".)"""
import hashlib
import json
import os

from conftest import REPO
from tool_runs import run_tool

SCRIPT = os.path.join(REPO, "benchmarks", "benchmark_recipe.py")

CELLS = {"zoo recipe/0": {"mAP": 0.25, "train_s": 100.0, "eval_s": 10.0},
         "zoo recipe/1": {"mAP": 0.35, "train_s": 120.0, "eval_s": 12.0},
         "+EMA/0": {"mAP": 0.4, "train_s": 130.0, "eval_s": 11.0}}


def table_lines(work_dir, *extra):
    proc = run_tool(SCRIPT, ["--work_dir", str(work_dir), "--table_only", *extra],
                    cwd=str(work_dir), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return {line.split(" | ")[0].lstrip("| "): line for line in proc.stdout.splitlines()}


def test_table_shows_seeds_means_and_unmeasured_cells(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"cells": CELLS}))
    rows = table_lines(tmp_path)
    assert rows["zoo recipe"] == ("| zoo recipe | fcos_r18_lite_synthetic.yml | 0.250 | 0.350 "
                                  "| 0.300 | 110 s | 11 s |")
    assert rows["+EMA"] == ("| +EMA | fcos_r18_lite_synthetic_ema.yml | 0.400 | not measured "
                            "| not measured | not measured | not measured |")
    assert rows["+EMA +augmentation, eval --tta"].count("not measured") == 5
    assert "not measured" not in table_lines(tmp_path, "--seeds", "0")["+EMA"]


def test_unreadable_results_file_is_one_line_and_kept(tmp_path):
    results = tmp_path / "results.json"
    results.write_text('["not", "a table"]')
    before = hashlib.sha256(results.read_bytes()).hexdigest()
    proc = run_tool(SCRIPT, ["--work_dir", str(tmp_path)], cwd=str(tmp_path),
                    timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"benchmark_recipe: {results} has no 'cells' object, so it is not a results file of "
        "this script; move it away to start the table again"]
    assert hashlib.sha256(results.read_bytes()).hexdigest() == before
    assert not os.path.exists(tmp_path / "data")
