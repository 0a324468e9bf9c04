"""Load-test ppfcos-serve on loopback beside the predictor it serves, on the same images.

    python tools/benchmark_serve.py --model_dir EXPORT --image_dir IMAGES
        [--concurrency 1 4 16] [--requests 400] [--batch_sizes 1 4 8 16 32] [--rounds 3]
        [--max_batch_size 8] [--max_wait_ms 5] [--threshold T] [--cpu_threads N] [--port P]

Each round (rounds alternate, so a slow phase of the machine hits every setting) measures:
the predictor's images/s at each of --batch_sizes (ppfcos_deploy's Detector in this process:
decode the JPEG bytes, preprocess, inference, postprocess: the work the server does per
image), then for the server with batching (--max_batch_size, --max_wait_ms) and without
(max_batch_size 1), started as ``python -m ppfcos.serving.cli``, the requests/s and p50/p99
latency of --requests POST /predict at each --concurrency (ppfcos.serving.loadgen, a closed
loop of keep-alive connections), the non-200 answers, and the CPU the load generator and the
server used (percent of all cores: on a small machine they share the cores). Prints the CPU,
a line per measurement, then the median and range over the rounds and the ratio of the server
at the highest concurrency to the predictor's best batch.
"""
import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import ppfcos  # noqa: E402,F401  (before paddle, for Paddle 2.6)
from ppfcos.serving.loadgen import raw_request, run_load  # noqa: E402
from ppfcos_deploy import machine  # noqa: E402
from ppfcos_deploy.benchmark import Timings  # noqa: E402
from ppfcos_deploy.detector import Detector  # noqa: E402
from ppfcos_deploy.exported_model import load_exported_model  # noqa: E402
from ppfcos_deploy.media import decode_image, images_under  # noqa: E402
from ppfcos_deploy.predictor import RunOptions, create_predictor  # noqa: E402
from ppfcos_deploy.preprocess import Preprocessor  # noqa: E402

HOST = "127.0.0.1"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def process_cpu_seconds(pid):
    """User + system CPU seconds of process ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def predictor_rate(detector, encoded, batch_size, images):
    """Images/s of decode + Detector.detect over ``images`` images in batches."""
    for start in range(0, batch_size * 2, batch_size):      # warm-up of this batch shape
        detector.detect([decode_image(encoded[(start + i) % len(encoded)], "warm-up")
                         for i in range(batch_size)])
    started, done = time.perf_counter(), 0
    while done < images:
        batch = [encoded[(done + i) % len(encoded)] for i in range(batch_size)]
        detector.detect([decode_image(data, "image") for data in batch])
        done += batch_size
    return done / (time.perf_counter() - started)


def start_server(args, port, max_batch_size):
    command = [sys.executable, "-m", "ppfcos.serving.cli", "--model_dir", args.model_dir,
               "--port", str(port), "--cpu_threads", str(args.cpu_threads),
               "--max_batch_size", str(max_batch_size), "--max_wait_ms", str(args.max_wait_ms)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1).read()
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"the server exited: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not answer /health within 120 s")


def stop_server(server):
    server.terminate()
    server.wait(timeout=60)


def load_row(port, requests, concurrency, total, server_pid):
    """{rate, p50, p99 (ms), errors, client and server CPU %} of one load run."""
    client_cpu, server_cpu = time.process_time(), process_cpu_seconds(server_pid)
    result = asyncio.run(run_load(HOST, port, requests, concurrency, total))
    cores = machine.cpu_info()["cores"]
    share = 100 / (result.seconds * cores)
    return {"rate": result.rate, "p50": 1000 * result.percentile(50),
            "p99": 1000 * result.percentile(99), "errors": result.errors,
            "client_cpu": (time.process_time() - client_cpu) * share,
            "server_cpu": (process_cpu_seconds(server_pid) - server_cpu) * share}


def measure_server(args, requests, max_batch_size, label, rows):
    port = args.port or free_port()
    server = start_server(args, port, max_batch_size)
    try:
        for concurrency in args.concurrency:          # warm-up: every batch size occurs
            asyncio.run(run_load(HOST, port, requests, concurrency, 4 * concurrency))
        for concurrency in args.concurrency:
            row = load_row(port, requests, concurrency, args.requests, server.pid)
            rows.setdefault((label, concurrency), []).append(row)
            print(f"  server {label}, concurrency {concurrency}: {row['rate']:.1f} req/s, "
                  f"p50 {row['p50']:.1f} ms, p99 {row['p99']:.1f} ms, {row['errors']} errors; "
                  f"CPU: load generator {row['client_cpu']:.0f}%, server "
                  f"{row['server_cpu']:.0f}% of all cores", flush=True)
    finally:
        stop_server(server)


def spread(values, unit=""):
    return (f"{statistics.median(values):.1f}{unit} ({min(values):.1f}-{max(values):.1f})"
            if len(values) > 1 else f"{values[0]:.1f}{unit}")


def summary(args, predictor, rows):
    lines = ["", f"median (range) over {args.rounds} round(s):",
             "| predictor batch | images/s |", "| --- | --- |"]
    lines += [f"| {b} | {spread(predictor[b])} |" for b in args.batch_sizes]
    lines += ["", "| server | concurrency | req/s | p50 ms | p99 ms | errors | load generator "
              "CPU | server CPU |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (label, concurrency), runs in rows.items():
        cell = {key: spread([r[key] for r in runs]) for key in runs[0]}
        errors = sum(r["errors"] for r in runs)
        lines.append(f"| {label} | {concurrency} | {cell['rate']} | {cell['p50']} | "
                     f"{cell['p99']} | {errors} | {cell['client_cpu']}% | "
                     f"{cell['server_cpu']}% |")
    top = max(args.concurrency)
    best = [max(predictor[b][i] for b in args.batch_sizes) for i in range(args.rounds)]
    for label in ("batching", "no batching"):
        ratios = [run["rate"] / b for run, b in zip(rows[(label, top)], best)]
        lines.append(f"server {label} at concurrency {top} / predictor's best batch: "
                     f"{spread(ratios, 'x')}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--image_dir", required=True)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=400, help="requests per load run")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    parser.add_argument("--predictor_images", type=int, default=400,
                        help="images per predictor measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max_batch_size", type=int, default=8)
    parser.add_argument("--max_wait_ms", type=float, default=5.0)
    parser.add_argument("--threshold", type=float, default=None,
                        help="the requests' threshold (default: the model's draw_threshold)")
    parser.add_argument("--cpu_threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args(argv)
    print(machine.describe(machine.cpu_info()))
    encoded = [open(path, "rb").read() for path in images_under(args.image_dir)]
    if not encoded:
        raise SystemExit(f"no images in {args.image_dir}")
    path = "/predict" + (f"?threshold={args.threshold}" if args.threshold is not None else "")
    requests = [raw_request(HOST, 0, path, data) for data in encoded]
    model = load_exported_model(args.model_dir)
    detector = Detector(Preprocessor(model.preprocess), create_predictor(
        "paddle", model, RunOptions(cpu_threads=args.cpu_threads)), Timings())
    predictor, rows = {b: [] for b in args.batch_sizes}, {}
    for round_index in range(args.rounds):
        print(f"round {round_index + 1}:", flush=True)
        for b in args.batch_sizes:
            predictor[b].append(predictor_rate(detector, encoded, b, args.predictor_images))
            print(f"  predictor batch {b}: {predictor[b][-1]:.1f} images/s", flush=True)
        settings = [("batching", args.max_batch_size), ("no batching", 1)]
        for label, max_batch_size in settings[::1 if round_index % 2 == 0 else -1]:
            measure_server(args, requests, max_batch_size, label, rows)
    print(summary(args, predictor, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
