"""Measure the export forms against the full export, per backend, in one run on this machine:
the largest score and box differences of their detections, and the latency of the graph
plus the host's decoding and NMS against the full graph.

    python benchmarks/benchmark_forms.py -c configs/fcos_r50_fpn_1x_coco.yml
        [--size 800 1216] [--backends paddle onnxruntime openvino] [--threads 2]
        [--iters 5] [--warmup 1]

The network has the name-seeded weights of ppfcos/modeling/seeded_weights.py, fed one
random 0-255 image of --size (ppfcos.engine.benchmark.exported_model_inputs). Each form is
exported with ``-o export.nms=false`` / ``export.post_process=false`` and converted to
model.onnx. Prints a Markdown table: per backend and form, the rows, the differences from
the full export's rows on that backend, and the mean seconds of the graph, of the host
post-processing and of both.
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos.engine import cli  # noqa: E402
from ppfcos.engine.benchmark import exported_model_inputs, timed  # noqa: E402
from ppfcos.export import export_model  # noqa: E402
from ppfcos.export.onnx import export_onnx  # noqa: E402
from ppfcos.modeling import build_model  # noqa: E402
from ppfcos.modeling.seeded_weights import seed_weights  # noqa: E402
from ppfcos_runtime import machine  # noqa: E402
from ppfcos_runtime.exported_model import load_exported_model  # noqa: E402
from ppfcos_runtime.predictor import (BACKENDS, HostPostProcess, RunOptions,  # noqa: E402
                                      create_predictor)

FORMS = {"full": {}, "decoded": {"nms": False}, "raw": {"post_process": False}}


def measure(model_dir, backend, inputs, args):
    """{graph_s, host_s, total_s, rows [K, 6]} of one export run by ``backend``: the graph
    alone, then the host's post-processing of its outputs (none for a full export)."""
    model = load_exported_model(model_dir, backend)
    predictor = create_predictor(backend, model, RunOptions(cpu_threads=args.threads))
    graph = predictor.predictor if isinstance(predictor, HostPostProcess) else predictor
    outputs = graph.run(inputs)
    bbox, bbox_num = model.form.detections(outputs, inputs["scale_factor"])
    graph_s = timed(lambda: graph.run(inputs), args.warmup, args.iters)
    host_s = timed(lambda: model.form.detections(outputs, inputs["scale_factor"]), args.warmup,
                   args.iters)
    rows = np.asarray(bbox)[:int(np.sum(bbox_num))]
    return {"graph_s": graph_s, "host_s": host_s if model.form.name != "full" else 0.0,
            "rows": rows[rows[:, 0] >= 0]}


def differences(rows, reference):
    """(largest score difference, largest box coordinate difference) of rows paired in order
    (both sorted by class then score, as the NMS writes them); None if the counts differ."""
    if rows.shape != reference.shape:
        return None
    return float(np.abs(rows[:, 1] - reference[:, 1]).max(initial=0)), float(
        np.abs(rows[:, 2:] - reference[:, 2:]).max(initial=0))


def run(cfg, args):
    print(machine.describe(machine.cpu_info()))
    model = seed_weights(build_model(cfg))
    inputs = exported_model_inputs(*args.size)
    lines = [f"{cfg.name} at {args.size[0]}x{args.size[1]}, {args.threads} threads, "
             f"mean of {args.iters} runs",
             "| backend | form | rows | max score diff | max box diff (px) | graph s | "
             "host s | total s |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {}
        for form, keys in FORMS.items():
            cfg["export"] = keys
            dirs[form] = export_model(model, cfg, os.path.join(tmp, form))
            export_onnx(dirs[form])
        for backend in args.backends:
            results = {form: measure(dirs[form], backend, inputs, args) for form in FORMS}
            for form, r in results.items():
                diff = differences(r["rows"], results["full"]["rows"])
                shown = "count differs" if diff is None else f"{diff[0]:.2g} | {diff[1]:.2g}"
                lines.append(f"| {backend} | {form} | {len(r['rows'])} | {shown} | "
                             f"{r['graph_s']:.4f} | {r['host_s']:.4f} | "
                             f"{r['graph_s'] + r['host_s']:.4f} |")
    print("\n".join(lines))


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[800, 1216])
    parser.add_argument("--backends", nargs="+", choices=list(BACKENDS),
                        default=list(BACKENDS))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    return cli.run(run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
