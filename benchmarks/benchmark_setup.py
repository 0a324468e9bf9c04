"""Compare a training step and an eval forward under the three ways a process can be set up:
through the tools, through the library with ppfcos.setup_device(), and without it.

    python benchmarks/benchmark_setup.py -c configs/fcos_r50_fpn_1x_coco.yml
        [--train_size 512 512] [--train_batch 2] [--eval_size 512 512] [--iters 3]
        [--warmup 1] [--rounds 2] [--setups tools library none]

Each setup runs ``benchmarks/benchmark.py --parts train eval --device_setup SETUP`` in a fresh
process (threads and MKL's switch are per process), the setups taking turns in each of
--rounds rounds so that a change in the machine's load touches them alike. The model is
built the same way in all three (``ppfcos.load_config`` + ``build_model``, name-seeded
weights); only the setup before it differs. Prints the CPU and a table of the mean times
with their ratio to the tools' setup.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos.engine import cli  # noqa: E402
from ppfcos_runtime import machine  # noqa: E402

BENCHMARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "benchmark.py")
SETUPS = {"tools": "the tools (tasks.setup)",
          "library": "load_config + build_model after ppfcos.setup_device()",
          "none": "load_config + build_model, no setup_device"}
# Variables a setup decides: every process starts without them.
PROCESS_VARIABLES = ("OMP_NUM_THREADS", "MKL_DEBUG_CPU_TYPE")


def measure(setup, args, output):
    """benchmarks/benchmark.py's train and eval figures under ``setup`` in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k not in PROCESS_VARIABLES}
    command = [sys.executable, BENCHMARK, "-c", args.config, *(["-o", *args.opt] if args.opt
                                                               else []),
               "--parts", "train", "eval", "--device_setup", setup,
               "--train_size", *map(str, args.train_size), "--train_batch", str(args.train_batch),
               "--eval_size", *map(str, args.eval_size), "--iters", str(args.iters),
               "--warmup", str(args.warmup), "--output", output]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: benchmarks/benchmark.py --device_setup {setup} failed:\n"
                 f"{done.stderr[-2000:]}")
    with open(os.path.join(output, os.listdir(output)[0])) as f:
        results = json.load(f)
    return results["train"]["step_s"], results["eval"]["latency_s"]


def table(seconds, args):
    """Mean seconds per setup and their ratio to the first setup's, as Markdown."""
    means = {setup: [sum(values) / len(values) for values in zip(*runs)]
             for setup, runs in seconds.items()}
    base_train, base_eval = next(iter(means.values()))
    (h, w), (eh, ew) = args.train_size, args.eval_size
    rows = [f"| setup | training step, batch {args.train_batch} at {h}x{w} | eval forward, "
            f"1 image at {eh}x{ew} |", "| --- | --- | --- |"]
    for setup, (train, evaluate) in means.items():
        rows.append(f"| {SETUPS[setup]} | {train:.3f} s ({train / base_train:.2f}x) | "
                    f"{evaluate:.3f} s ({evaluate / base_eval:.2f}x) |")
    return "\n".join(rows)


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--train_size", type=int, nargs=2, default=[512, 512])
    parser.add_argument("--train_batch", type=int, default=2)
    parser.add_argument("--eval_size", type=int, nargs=2, default=[512, 512])
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--setups", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    args = parser.parse_args(argv)
    print(machine.describe(machine.cpu_info()))
    seconds = {setup: [] for setup in args.setups}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            for setup in args.setups:
                output = os.path.join(tmp, f"{setup}_{round_index}")
                seconds[setup].append(measure(setup, args, output))
                train, evaluate = seconds[setup][-1]
                print(f"round {round_index + 1}, {setup}: training step {train:.3f} s, eval "
                      f"forward {evaluate:.3f} s", flush=True)
    print(table(seconds, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
