"""Measure a config's speed and memory on this machine: training step, dygraph eval forward,
exported Paddle Inference per CPU setting, and the training reader.

    python benchmarks/benchmark.py -c configs/fcos_r50_fpn_1x_coco.yml
        [--parts train eval deploy reader] [--train_size 512 512] [--train_batch 2]
        [--eval_size 800 1216] [--iters 3] [--warmup 1] [--memory_steps 100]
        [--output output/benchmark]

The network has the name-seeded weights of ppfcos/modeling/seeded_weights.py. Prints a table
and writes <output>/<config name>.json. ``--parts memory`` runs --memory_steps
training steps and reports the resident-memory growth after the first 10.
``--parts onnxruntime`` times the exported model's model.onnx in ONNX Runtime (CPU,
1 and all cores' threads; needs `pip install -e .[onnx]`). ``--parts runtimes`` times,
with all cores' threads and each of --batch_sizes, every backend at every precision of
ppfcos_runtime's capability table (Paddle Inference fp32 and bf16, ONNX Runtime fp32 and
int8, OpenVINO fp32, bf16 and int8; seconds per image; needs `pip install -e .[test]`);
what cannot run here (Paddle 2.6's bf16) is listed with the reason. The first line
printed names the CPU, its flags and oneDNN's ISA.
``--device_setup`` says how the process is set up before the model is built:
``tools`` (the tools' tasks.setup: ranks, logging, device), ``library`` (only
``ppfcos.setup_device()``, as a library user calls it) or ``none`` (neither: Paddle's
defaults); benchmarks/benchmark_setup.py compares the three.
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos.engine import benchmark, cli, tasks  # noqa: E402
from ppfcos.engine.optimizer import build_optimizer, build_schedule  # noqa: E402
from ppfcos.export import export_model  # noqa: E402
from ppfcos.export.onnx import export_onnx  # noqa: E402
from ppfcos.modeling import build_model  # noqa: E402
from ppfcos.modeling.seeded_weights import seed_weights  # noqa: E402
from ppfcos.utils.env import setup_device  # noqa: E402
from ppfcos_runtime import machine  # noqa: E402

PARTS = ("train", "eval", "deploy", "reader", "memory", "onnxruntime", "runtimes")
# How the process is set up before the model is built (--device_setup).
DEVICE_SETUPS = {"tools": tasks.setup, "library": lambda cfg: setup_device(),
                 "none": lambda cfg: None}
THREAD_SETTINGS = sorted({1, os.cpu_count() or 1})   # inference: one thread, all cores


def training_setup(cfg, args, size):
    model = seed_weights(build_model(cfg))
    schedule = build_schedule(cfg, steps_per_epoch=100)
    optimizer = build_optimizer(cfg.get("OptimizerBuilder") or {}, schedule, model.parameters())
    return model, optimizer, benchmark.train_batch(cfg, args.train_batch, *size)


def deploy_rows(model_dir, args):
    """Latency of the exported model for threads in (1, all cores) x oneDNN (off, on)."""
    return [benchmark.measure_predictor(model_dir, *args.eval_size, threads, onednn,
                                        args.warmup, args.iters)
            for threads in THREAD_SETTINGS for onednn in (False, True)]


def onnxruntime_rows(model_dir, args):
    """Latency of an export's model.onnx in ONNX Runtime, threads in (1, all cores)."""
    return [benchmark.measure_onnxruntime(model_dir, *args.eval_size, threads, args.warmup,
                                          args.iters)
            for threads in THREAD_SETTINGS]


def run(cfg, args):
    DEVICE_SETUPS[args.device_setup](cfg)
    cpu = machine.cpu_info()
    print(machine.describe(cpu))
    results = {"config": cfg.name, "device_setup": args.device_setup,
               "machine": {"cpu": cpu["model"], "cores": cpu["cores"],
                           "flags": sorted(set(machine.FLAGS) & cpu["flags"]),
                           "onednn_isa": machine.onednn_isa(cpu["flags"])}}
    if "train" in args.parts:
        model, optimizer, batch = training_setup(cfg, args, args.train_size)
        results["train"] = dict(benchmark.measure_train_step(model, optimizer, batch,
                                                             args.warmup, args.iters),
                                batch=args.train_batch, size=args.train_size)
    if "memory" in args.parts:
        model, optimizer, batch = training_setup(cfg, args, args.train_size)
        results["memory"] = benchmark.measure_memory_growth(model, optimizer, batch,
                                                            args.memory_steps)
    if "eval" in args.parts:
        model = seed_weights(build_model(cfg))
        results["eval"] = dict(benchmark.measure_eval_forward(model, *args.eval_size,
                                                              args.warmup, args.iters),
                               size=args.eval_size)
    if set(args.parts) & {"deploy", "onnxruntime", "runtimes"}:
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = export_model(seed_weights(build_model(cfg)), cfg,
                                     os.path.join(tmp, cfg.name))
            if "deploy" in args.parts:
                results["deploy"] = dict(rows=deploy_rows(model_dir, args), size=args.eval_size)
            if set(args.parts) & {"onnxruntime", "runtimes"}:
                export_onnx(model_dir)
            if "onnxruntime" in args.parts:
                results["onnxruntime"] = dict(rows=onnxruntime_rows(model_dir, args),
                                              size=args.eval_size)
            if "runtimes" in args.parts:
                runners, skipped = benchmark.runtime_runners(model_dir, THREAD_SETTINGS[-1],
                                                             *args.eval_size)
                results["runtimes"] = dict(
                    rows=benchmark.measure_runtimes(runners, *args.eval_size, args.batch_sizes,
                                                    args.warmup, args.iters),
                    skipped=[{"runtime": runtime, "precision": precision, "reason": reason}
                             for (runtime, precision), reason in skipped.items()],
                    size=args.eval_size, threads=THREAD_SETTINGS[-1])
    if "reader" in args.parts:
        results["reader"] = benchmark.measure_reader(cfg)
    print(table(results))
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, f"{cfg.name}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"written to {path}")


def table(results):
    """The figures as a Markdown table."""
    rows = ["| measurement | figure |", "| --- | --- |"]
    if "train" in results:
        r = results["train"]
        rows.append(f"| training step, batch {r['batch']} at {r['size'][0]}x{r['size'][1]} | "
                    f"{r['step_s']:.3f} s ({r['images_per_s']:.2f} images/s), peak memory "
                    f"{r['peak_rss_mb']:.0f} MB |")
    if "memory" in results:
        r = results["memory"]
        rows.append(f"| memory over {r['steps']} training steps | {r['rss_after_settle_mb']:.0f}"
                    f" -> {r['rss_end_mb']:.0f} MB (growth {r['growth_mb']:+.0f} MB) |")
    if "eval" in results:
        r = results["eval"]
        rows.append(f"| dygraph eval forward, 1 image at {r['size'][0]}x{r['size'][1]} | "
                    f"{r['latency_s']:.3f} s |")
    for r in results.get("deploy", {}).get("rows", []):
        size = results["deploy"]["size"]
        rows.append(f"| Paddle Inference, {size[0]}x{size[1]}, {r['threads']} threads, oneDNN "
                    f"{'on' if r['onednn'] else 'off'} | {r['latency_s']:.3f} s |")
    for r in results.get("onnxruntime", {}).get("rows", []):
        size = results["onnxruntime"]["size"]
        rows.append(f"| ONNX Runtime, {size[0]}x{size[1]}, {r['threads']} threads | "
                    f"{r['latency_s']:.3f} s |")
    runtimes = results.get("runtimes", {})
    for r in runtimes.get("rows", []):
        size = runtimes["size"]
        rows.append(f"| {r['runtime']} {r['precision']}, {size[0]}x{size[1]}, batch "
                    f"{r['batch']}, {runtimes['threads']} threads | {r['latency_s']:.3f} s "
                    f"per image |")
    for r in runtimes.get("skipped", []):
        rows.append(f"| {r['runtime']} {r['precision']} | not run here: {r['reason']} |")
    if "reader" in results:
        r = results["reader"]
        rows.append(f"| TrainReader, {r['workers']} workers | {r['images_per_s']:.1f} images/s |")
    return "\n".join(rows)


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS[:4]))
    parser.add_argument("--train_size", type=int, nargs=2, default=[512, 512],
                        metavar=("H", "W"))
    parser.add_argument("--train_batch", type=int, default=2)
    parser.add_argument("--eval_size", type=int, nargs=2, default=[800, 1216],
                        metavar=("H", "W"))
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1],
                        help="batch sizes of --parts runtimes")
    parser.add_argument("--iters", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--memory_steps", type=int, default=100)
    parser.add_argument("--output", default=os.path.join("output", "benchmark"))
    parser.add_argument("--device_setup", choices=sorted(DEVICE_SETUPS), default="tools",
                        help="tools: tasks.setup; library: ppfcos.setup_device() only; none: "
                        "neither")
    args = parser.parse_args(argv)
    return cli.run(run, args)


if __name__ == "__main__":
    sys.exit(main())
