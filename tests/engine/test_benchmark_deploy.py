"""benchmarks/benchmark_deploy.py against a git worktree of HEAD (the same code) on the demo
config and tiny images: both trees' figures and their ratio are printed, --max_ratio fails
as it should, the temporary worktree of --reference_commit goes away, and bad arguments get
one clear line."""
import collections
import os
import re
import statistics
import subprocess

import pytest

from conftest import CONFIGS, REPO, load_tool
from ppfcos.export.program import op_counts

tool = load_tool("benchmark_deploy", folder="benchmarks")

DEMO = os.path.join(CONFIGS, "demo", "fcos_r18_lite_synthetic.yml")
TINY_RUN = ["-c", DEMO, "--images", "2", "--image_size", "64", "96", "--rounds", "2",
            "--cpu_threads", "1"]
ROUND = re.compile(r"round \d: current total ([\d.]+) ms, inference ([\d.]+) ms; reference "
                   r"total ([\d.]+) ms, inference ([\d.]+) ms; ratio total ([\d.]+), "
                   r"inference ([\d.]+)")
MEDIAN = re.compile(r"median ratio current/reference: total ([\d.]+), inference ([\d.]+)")
PROGRAMS = re.compile(r"exported program: current (\d+) ops, reference (\d+) ops \(\+0\)\n"
                      r"load average after")


def git_worktrees():
    return subprocess.run(["git", "-C", REPO, "worktree", "list"], capture_output=True,
                          text=True, check=True).stdout


@pytest.fixture(scope="module")
def head_tree(tmp_path_factory):
    """A git worktree of HEAD: a reference tree with this tree's code."""
    path = str(tmp_path_factory.mktemp("reference") / "tree")
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", path, "HEAD"],
                   capture_output=True, check=True)
    yield path
    subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", path],
                   capture_output=True, check=True)


def test_both_trees_figures_and_their_ratio_are_printed(head_tree, tmp_path, capsys):
    assert tool.main([*TINY_RUN, "--reference_tree", head_tree, "--max_ratio", "1000",
                      "--work_dir", str(tmp_path / "work")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^CPU: .+ oneDNN ISA \w+$", out, re.M)
    assert "load average before: " in out and "load average after: " in out
    rounds = [[float(x) for x in row] for row in ROUND.findall(out)]
    assert len(rounds) == 2
    for current, current_inference, reference, reference_inference, ratio, _ in rounds:
        assert 0 < current_inference < current and 0 < reference_inference < reference
        assert ratio == pytest.approx(current / reference, rel=0.03)   # times printed to 0.1
    medians = [float(x) for x in MEDIAN.search(out).groups()]
    assert medians == pytest.approx([statistics.median(row[4] for row in rounds),
                                     statistics.median(row[5] for row in rounds)], abs=2e-3)
    current_ops, reference_ops = PROGRAMS.search(out).groups()   # the same code: no difference
    kept = {label: tmp_path / "work" / label / "export" / "fcos_r18_lite_synthetic"
            for label in ("current", "reference")}
    assert int(current_ops) == int(reference_ops) == sum(op_counts(kept["reference"]).values())
    assert op_counts(kept["current"])["conv2d"] > 10
    assert len(os.listdir(tmp_path / "work" / "images")) == 2


def test_max_ratio_fails_and_the_commit_worktree_is_removed(tmp_path, capsys):
    assert tool.main([*TINY_RUN, "--rounds", "1", "--reference_commit", "HEAD",
                      "--max_ratio", "1e-6", "--work_dir", str(tmp_path)]) == tool.SLOWER
    captured = capsys.readouterr()
    assert "more than --max_ratio 1e-06" in captured.err
    tree = re.search(r"reference tree (\S+)", captured.out).group(1)
    assert not os.path.exists(tree) and tree not in git_worktrees()
    # the tree is gone, its export is kept
    assert os.listdir(tmp_path / "reference" / "export") == ["fcos_r18_lite_synthetic"]


def test_an_unknown_commit_is_one_error_line(capsys):
    assert tool.main([*TINY_RUN, "--reference_commit", "no-such-commit"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --reference_commit no-such-commit: git worktree add failed")


@pytest.mark.parametrize("argv, message", [
    ([], "one of the arguments --reference_tree --reference_commit is required"),
    (["--reference_tree", "a", "--reference_commit", "b"], "not allowed with argument"),
    (["--reference_commit", "HEAD", "-c", "no/such.yml"], "-c no/such.yml: no such config file"),
    (["--reference_commit", "HEAD", "--max_ratio", "0"], "must be > 0, got 0.0"),
    (["--reference_commit", "HEAD", "--rounds", "0"], "must be >= 1, got 0"),
])
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tool.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_a_work_dir_in_use_is_refused(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(SystemExit):
        tool.main(["--reference_commit", "HEAD", "--work_dir", str(tmp_path)])
    assert f"--work_dir {tmp_path} is not empty" in capsys.readouterr().err


def test_a_folder_without_the_tools_is_no_reference_tree(tmp_path, capsys):
    with pytest.raises(SystemExit):
        tool.main(["--reference_tree", str(tmp_path)])
    err = capsys.readouterr().err
    assert (f"--reference_tree {tmp_path} is not a ppfcos tree (no tools/export_model.py, "
            f"deploy/python/infer.py)") in err


def test_a_config_is_read_at_the_same_path_in_the_reference_tree(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "x.yml").write_text("{}")
    inside = os.path.join(REPO, "configs", "x.yml")
    assert tool.tree_config(str(tmp_path), inside) == str(tmp_path / "configs" / "x.yml")
    outside = str(tmp_path / "configs" / "x.yml")
    assert tool.tree_config("/elsewhere", outside) == outside
    with pytest.raises(tool.BenchmarkError, match="has no configs/y.yml"):
        tool.tree_config(str(tmp_path), os.path.join(REPO, "configs", "y.yml"))


def test_the_op_difference_names_each_type_that_differs():
    current = collections.Counter({"conv2d": 5, "cast": 23, "relu": 4})
    reference = collections.Counter({"conv2d": 5, "cast": 10, "exp": 1})
    assert tool.op_difference(current, reference) == [
        "exported program: current 32 ops, reference 16 ops (+16)",
        "  cast: current 23, reference 10 (+13)",
        "  exp: current 0, reference 1 (-1)",
        "  relu: current 4, reference 0 (+4)"]
