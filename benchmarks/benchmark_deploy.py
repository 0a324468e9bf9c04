"""Deploy latency of this tree against a reference tree (an older commit), side by side.

    python benchmarks/benchmark_deploy.py [-c configs/fcos_r50_fpn_1x_coco.yml]
        (--reference_commit d1848f7 | --reference_tree DIR) [--images 4]
        [--image_size 800 1216] [--rounds 3] [--cpu_threads 2] [--max_ratio R]
        [--work_dir DIR]

The config's network gets the name-seeded weights (ppfcos/modeling/seeded_weights.py),
written once to a .pdparams file. Each tree then exports it with its own
tools/export_model.py and runs the export with its own deploy/python/infer.py
(--run_benchmark, fp32, oneDNN on, --cpu_threads) on the same --images synthetic images
of --image_size, each in a subprocess whose PYTHONPATH is that tree (and, in a tree older
than ppfcos_runtime/, its deploy/python as ppfcos_deploy), so the reference runs its old code. The trees take turns in each of
--rounds rounds (the first one alternating), so a change in the machine's load touches
both alike. --reference_commit makes a temporary ``git worktree`` of the commit and
removes it afterwards. A config inside this tree is read at the same path in the
reference tree; one outside both is used by both.

Prints the CPU line with oneDNN's ISA, the load average before and after, per round each
tree's total and inference ms per image and the ratio current/reference, the median
ratios, and the op types whose counts differ between the two exported programs. Exit
status 3 when --max_ratio is given and the median total ratio exceeds it, 1 on errors.
The weights, images and both exports go to a temporary folder, or are kept in --work_dir
(DIR/current/export/<config name>, DIR/reference/export/..., DIR/images) for a closer look.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, REPO)

import ppfcos  # noqa: E402  (before paddle)
import cv2  # noqa: E402
import paddle  # noqa: E402

from ppfcos.data.synthetic import render_image  # noqa: E402
from ppfcos.engine import cli  # noqa: E402
from ppfcos.export.program import op_counts  # noqa: E402
from ppfcos.modeling.seeded_weights import seed_weights  # noqa: E402
from ppfcos_runtime import machine  # noqa: E402
from ppfcos_runtime.flags import positive_float, positive_int  # noqa: E402

DEFAULT_CONFIG = os.path.join(REPO, "configs", "fcos_r50_fpn_1x_coco.yml")
# The files a tree needs to be compared (relative to its root).
TREE_FILES = (os.path.join("tools", "export_model.py"),
              os.path.join("deploy", "python", "infer.py"))
# deploy/python/infer.py --run_benchmark's lines (the same in every version since d1848f7).
STAGES_LINE = re.compile(r"preprocess ([\d.]+) ms, inference ([\d.]+) ms, "
                         r"postprocess ([\d.]+) ms per image")
TOTAL_LINE = re.compile(r"total ([\d.]+) ms per image")
SLOWER = 3   # exit status: the median ratio exceeds --max_ratio


class BenchmarkError(Exception):
    """A step failed in a way the user can fix (a bad tree, commit, or failing export)."""


@contextmanager
def commit_worktree(commit, parent):
    """A detached ``git worktree`` of ``commit`` under ``parent``, removed afterwards."""
    path = os.path.join(parent, "reference_tree")
    done = subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", path, commit],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchmarkError(f"--reference_commit {commit}: git worktree add failed: "
                             f"{done.stderr.strip().splitlines()[-1] if done.stderr else ''}")
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", path],
                       capture_output=True)


@contextmanager
def work_dir(path):
    """``path`` (created), or a temporary folder removed afterwards."""
    if path is None:
        with tempfile.TemporaryDirectory() as scratch:
            yield scratch
    else:
        os.makedirs(path, exist_ok=True)
        yield os.path.abspath(path)


def tree_env(tree, scratch):
    """The environment that runs ``tree``'s code: PYTHONPATH = a folder where
    ppfcos_deploy is the tree's deploy/python (when it is a package: trees older than
    ppfcos_runtime/), then the tree."""
    shim = os.path.join(scratch, "path")
    os.makedirs(shim, exist_ok=True)
    deploy = os.path.join(tree, "deploy", "python")
    if os.path.isfile(os.path.join(deploy, "__init__.py")):
        os.symlink(deploy, os.path.join(shim, "ppfcos_deploy"))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([shim, tree])}


def tree_config(tree, config):
    """``config`` as ``tree`` reads it: the same relative path when it lies in this tree."""
    relative = os.path.relpath(config, REPO)
    if relative.startswith(os.pardir):
        return config
    path = os.path.join(tree, relative)
    if not os.path.isfile(path):
        raise BenchmarkError(f"the reference tree {tree} has no {relative}")
    return path


def run_tree(command, tree, env, what):
    """Run ``command`` in ``tree`` with ``env`` -> its stdout; BenchmarkError on failure."""
    done = subprocess.run([sys.executable, *command], cwd=tree, env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise BenchmarkError(f"{what} failed in {tree} (exit status {done.returncode}):\n"
                             f"{done.stderr[-2000:]}")
    return done.stdout


def export(tree, config, weights, output_dir, env):
    """``tree``'s tools/export_model.py on ``weights`` -> the export's directory."""
    run_tree([os.path.join(tree, "tools", "export_model.py"), "-c", config, "-o",
              f"weights={weights}", "--output_dir", output_dir], tree, env, "the export")
    (name,) = os.listdir(output_dir)
    return os.path.join(output_dir, name)


def deploy_times(tree, model_dir, image_dir, threads, env, output_dir):
    """``tree``'s deploy/python/infer.py --run_benchmark on ``image_dir`` -> {"total",
    "preprocess", "inference", "postprocess": ms per image}."""
    out = run_tree([os.path.join(tree, "deploy", "python", "infer.py"), "--model_dir",
                    model_dir, "--image_dir", image_dir, "--run_benchmark", "--enable_mkldnn",
                    "True", "--cpu_threads", str(threads), "--output_dir", output_dir],
                   tree, env, "deploy/python/infer.py --run_benchmark")
    stages, total = STAGES_LINE.search(out), TOTAL_LINE.search(out)
    if not (stages and total):
        raise BenchmarkError(f"no benchmark figures in the output of {tree}'s "
                             f"deploy/python/infer.py:\n{out[-2000:]}")
    return {"total": float(total.group(1)),
            **dict(zip(("preprocess", "inference", "postprocess"),
                       map(float, stages.groups())))}


def write_seeded_weights(config, path):
    """The config's network with name-seeded weights, saved to ``path`` (.pdparams)."""
    paddle.save(seed_weights(ppfcos.build_model(ppfcos.load_config(config))).state_dict(),
                path)
    return path


def write_images(folder, count, height, width):
    """``count`` synthetic scenes (shapes on clutter) of height x width as JPEG files."""
    os.makedirs(folder)
    for index in range(count):
        image, _ = render_image(0, "val", index, image_size=(256, 384))
        cv2.imwrite(os.path.join(folder, f"{index:03d}.jpg"), cv2.resize(image, (width, height)))
    return folder


def op_difference(current, reference):
    """Lines naming each op type whose count differs between two Counters of op types."""
    ours, theirs = sum(current.values()), sum(reference.values())
    lines = [f"exported program: current {ours} ops, reference {theirs} ops ({ours - theirs:+d})"]
    for kind in sorted(set(current) | set(reference)):
        if current[kind] != reference[kind]:
            lines.append(f"  {kind}: current {current[kind]}, reference {reference[kind]} "
                         f"({current[kind] - reference[kind]:+d})")
    return lines


def compare(args, reference, scratch):
    """Export in both trees, time them in alternating rounds, print -> median total ratio."""
    trees = {"current": REPO, "reference": os.path.abspath(reference)}
    envs = {label: tree_env(tree, os.path.join(scratch, label)) for label, tree in trees.items()}
    weights = write_seeded_weights(args.config, os.path.join(scratch, "seeded.pdparams"))
    exports = {label: export(tree, tree_config(tree, args.config), weights,
                             os.path.join(scratch, label, "export"), envs[label])
               for label, tree in trees.items()}
    images = write_images(os.path.join(scratch, "images"), args.images, *args.image_size)
    print(f"{args.images} image(s) of {args.image_size[0]}x{args.image_size[1]}, fp32, oneDNN "
          f"on, {args.cpu_threads} thread(s); reference tree {trees['reference']}", flush=True)
    ratios = {"total": [], "inference": []}
    for round_index in range(args.rounds):
        order = list(trees) if round_index % 2 == 0 else list(trees)[::-1]
        times = {label: deploy_times(trees[label], exports[label], images, args.cpu_threads,
                                     envs[label], os.path.join(scratch, label, "out"))
                 for label in order}
        for key in ratios:
            ratios[key].append(times["current"][key] / times["reference"][key])
        print(f"round {round_index + 1}: " + "; ".join(
            f"{label} total {times[label]['total']:.1f} ms, inference "
            f"{times[label]['inference']:.1f} ms" for label in trees)
            + f"; ratio total {ratios['total'][-1]:.3f}, inference "
              f"{ratios['inference'][-1]:.3f}", flush=True)
    medians = {key: statistics.median(values) for key, values in ratios.items()}
    print(f"median ratio current/reference: total {medians['total']:.3f}, inference "
          f"{medians['inference']:.3f}")
    print("\n".join(op_difference(op_counts(exports["current"]),
                                  op_counts(exports["reference"]))))
    return medians["total"]


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG, help="config file (YAML)")
    reference = parser.add_mutually_exclusive_group(required=True)
    reference.add_argument("--reference_tree", help="a checkout of the code to compare with")
    reference.add_argument("--reference_commit",
                           help="a commit of this repository to compare with (a temporary "
                           "git worktree)")
    parser.add_argument("--images", type=positive_int, default=4, help="images per run")
    parser.add_argument("--image_size", type=positive_int, nargs=2, default=[800, 1216],
                        metavar=("H", "W"))
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--cpu_threads", type=positive_int, default=2)
    parser.add_argument("--work_dir", default=None,
                        help="keep the weights, images and exports here (a new or empty "
                        "folder; default: a temporary one, removed)")
    parser.add_argument("--max_ratio", type=positive_float, default=None,
                        help=f"exit with status {SLOWER} when the median total ratio "
                        f"current/reference exceeds this")
    return parser


def parse_args(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not os.path.isfile(args.config):
        parser.error(f"-c {args.config}: no such config file")
    if args.work_dir is not None and os.path.exists(args.work_dir) and os.listdir(args.work_dir):
        parser.error(f"--work_dir {args.work_dir} is not empty: give a new or empty folder")
    args.config = os.path.abspath(args.config)
    if args.reference_tree is not None:
        missing = [name for name in TREE_FILES
                   if not os.path.isfile(os.path.join(args.reference_tree, name))]
        if missing:
            parser.error(f"--reference_tree {args.reference_tree} is not a ppfcos tree (no "
                         f"{', '.join(missing)})")
    return args


def main(argv=None):
    args = parse_args(argv)
    print(machine.describe(machine.cpu_info()))
    print(machine.load_line("before"), flush=True)
    try:
        with work_dir(args.work_dir) as scratch:
            if args.reference_tree is not None:
                median = compare(args, args.reference_tree, scratch)
            else:
                with commit_worktree(args.reference_commit, scratch) as tree:
                    median = compare(args, tree, scratch)
    except (BenchmarkError, *cli.USER_ERRORS) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        print(machine.load_line("after"))
    if args.max_ratio is not None and median > args.max_ratio:
        print(f"error: the current tree takes {median:.3f}x the reference's time per image "
              f"(median), more than --max_ratio {args.max_ratio}", file=sys.stderr)
        return SLOWER
    return 0


if __name__ == "__main__":
    sys.exit(main())
