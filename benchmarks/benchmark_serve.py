"""Load-test ppfcos-serve on loopback beside the predictor it serves, on the same images.

    python benchmarks/benchmark_serve.py --model_dir EXPORT --image_dir IMAGES
        [--setups 1x2/16 1x2x1/16 2x1/8] [--concurrency 1 4 16] [--requests 400]
        [--batch_sizes 1 4 8 16 32] [--predictor_images 400] [--rounds 3]
        [--max_batch_size 8] [--max_wait_ms 5] [--threshold T] [--port P]
    python benchmarks/benchmark_serve.py --model_dir EXPORT --image_dir IMAGES --large 20
        [--large_size 6000x4000] [--setups 1x2]

Each round (rounds alternate the order of the servers, so a slow phase of the machine hits
every setting) measures the predictor's images/s at each of --batch_sizes: ppfcos_runtime's
Detector decoding the JPEG bytes, preprocessing, inference, postprocessing (the work the
server does per image), first as the command-line predictor runs (one process, all cores'
threads), then as W*P processes of T threads at once for each setup WxPxT. Then, for each
setup, the server (``python -m ppfcos_runtime.serving.cli --workers W --predictor_processes P
--cpu_threads T``) with batching up to B images and without (max_batch_size 1): requests/s and p50/p99 latency of --requests POST
/predict at each --concurrency (ppfcos_runtime.serving.loadgen: a closed loop of keep-alive
connections), the non-200 answers, the CPU the load generator, the server and its event
loops used (percent of all cores: on a small machine they share the cores), the mean images
per predictor run and the share of the time the predictor ran. Prints the CPU, a line per
measurement, then the median and range over the rounds and the ratio of each server at the
highest concurrency to the best batch of the command-line predictor (and of the predictor in
the server's layout).

With ``--large N`` it measures instead what N large JPEGs (``--large_size``, noise and
shapes) uploaded at once cost the server of the first setup (its default limits): the peak
resident memory of the server and all its child processes (sampled every 20 ms), the large
requests' latency, and the latency of small requests (the --image_dir images, one after
another on new connections) sent while the large ones are in flight.
"""
import argparse
import asyncio
import os
import threading
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import ppfcos  # noqa: E402,F401  (before paddle, for Paddle 2.6)
from ppfcos_runtime.serving.loadgen import raw_request, run_load  # noqa: E402
from ppfcos_runtime import machine  # noqa: E402
from ppfcos_runtime.factory import load_detector  # noqa: E402
from ppfcos_runtime.media import decode_image, images_under  # noqa: E402
from ppfcos_runtime.predictor import RunOptions  # noqa: E402

HOST = "127.0.0.1"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
CORES = machine.cpu_info()["cores"]


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def process_cpu_seconds(pid, thread=None):
    """User + system CPU seconds of process ``pid``, or of its thread ``thread`` (Linux
    /proc; the main thread's id is the pid)."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def batch_totals(port):
    """(predictor runs, images, seconds in runs) so far, from the server's /metrics."""
    text = urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10).read().decode()
    value = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
             if line.startswith(("ppfcos_batch_size_", "ppfcos_batch_seconds_sum"))}
    return (value["ppfcos_batch_size_count"], value["ppfcos_batch_size_sum"],
            value["ppfcos_batch_seconds_sum"])


def predictor_rate(model_dir, encoded, threads, batch_size, images):
    """Images/s of decode + Detector.detect over ``images`` images in batches (after a
    warm-up of the batch shape), in this process."""
    detector = load_detector(model_dir, "paddle", RunOptions(cpu_threads=threads))
    for start in range(0, batch_size * 2, batch_size):
        detector.detect([decode_image(encoded[(start + i) % len(encoded)], "warm-up")
                         for i in range(batch_size)])
    started, done = time.perf_counter(), 0
    while done < images:
        batch = [encoded[(done + i) % len(encoded)] for i in range(batch_size)]
        detector.detect([decode_image(data, "image") for data in batch])
        done += batch_size
    return done / (time.perf_counter() - started)


def predictors_rate(args, processes, threads, batch_size):
    """Images/s of ``processes`` predictor processes of ``threads`` threads running at once
    (this script's --predictor_worker), summed."""
    command = [sys.executable, os.path.abspath(__file__), "--model_dir", args.model_dir,
               "--image_dir", args.image_dir, "--predictor_images", str(args.predictor_images),
               "--predictor_worker", str(threads), str(batch_size)]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True) for _ in range(processes)]
    outputs = [worker.communicate()[0] for worker in workers]
    if any(worker.returncode for worker in workers):
        raise SystemExit(f"a predictor process failed: {outputs}")
    return sum(float(out.split()[-1]) for out in outputs)


def start_server(args, port, setup, max_batch_size):
    workers, processes, threads = setup[:3]
    command = [sys.executable, "-m", "ppfcos_runtime.serving.cli", "--model_dir", args.model_dir,
               "--port", str(port), "--workers", str(workers), "--predictor_processes",
               str(processes), "--cpu_threads", str(threads),
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


def children_of(pids):
    """The processes whose parent is one of ``pids``."""
    children = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if entry.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) in pids:
                    children.append(int(entry))
        except (OSError, ValueError):
            continue
    return children


def server_pids(server, workers):
    """(the server's process and all its descendants, those of them that run an event loop:
    the server, or with --workers > 1 its uvicorn workers; the other descendants are
    predictor processes)."""
    generations = [[server.pid]]
    while generations[-1]:
        generations.append(children_of(set(generations[-1])))
    return sum(generations, []), generations[1 if workers > 1 else 0]


def server_cpu_seconds(pids, loops):
    """(CPU seconds of the server's processes, of the main threads of ``loops``: the event
    loops)."""
    return (sum(process_cpu_seconds(pid) for pid in pids),
            sum(process_cpu_seconds(pid, pid) for pid in loops))


def load_row(port, requests, concurrency, total, server, workers):
    """{rate, p50, p99 (ms), errors, client, server and server event-loop CPU (% of all
    cores), mean images per predictor run, % of the time the predictor ran} of one load
    run. With --workers > 1 the last two are those of the worker whose /metrics answered
    (each worker counts its own)."""
    pids, loops = server_pids(server, workers)

    def cpu():
        return (time.process_time(), *server_cpu_seconds(pids, loops))
    before, batches_before = cpu(), batch_totals(port)
    result = asyncio.run(run_load(HOST, port, requests, concurrency, total))
    after, batches_after = cpu(), batch_totals(port)
    share = 100 / (result.seconds * machine.cpu_info()["cores"])
    client, server_cpu, loop = ((a - b) * share for a, b in zip(after, before))
    runs, images, busy = (a - b for a, b in zip(batches_after, batches_before))
    return {"rate": result.rate, "p50": 1000 * result.percentile(50),
            "p99": 1000 * result.percentile(99), "errors": result.errors,
            "client_cpu": client, "server_cpu": server_cpu, "loop_cpu": loop,
            "batch": images / max(runs, 1), "busy": 100 * busy / result.seconds}


def measure_server(args, requests, setup, max_batch_size, label, rows):
    port = args.port or free_port()
    server = start_server(args, port, setup, max_batch_size)
    try:
        for concurrency in args.concurrency:          # warm-up: every batch size occurs
            asyncio.run(run_load(HOST, port, requests, concurrency, 4 * concurrency))
        for concurrency in args.concurrency:
            row = load_row(port, requests, concurrency, args.requests, server, setup[0])
            rows.setdefault((*label, concurrency), []).append(row)
            print(f"  server {name(label[0])}, batching {label[1]}, concurrency "
                  f"{concurrency}: {row['rate']:.1f} req/s, "
                  f"p50 {row['p50']:.1f} ms, p99 {row['p99']:.1f} ms, {row['errors']} errors; "
                  f"CPU (% of all cores): load generator {row['client_cpu']:.0f}%, server "
                  f"{row['server_cpu']:.0f}% (event loops {row['loop_cpu']:.0f}%); "
                  f"{row['batch']:.1f} images per run, predictor busy {row['busy']:.0f}% of "
                  f"the time", flush=True)
    finally:
        stop_server(server)


def resident_bytes(pids):
    """Resident memory of the processes ``pids``, summed (Linux /proc statm; ended ones
    count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            continue
    return total


class PeakMemory:
    """The peak resident memory of a server and its child processes (re-listed at each
    sample: predictor processes may restart), sampled every ``interval`` seconds in a
    thread from start() to stop()."""

    def __init__(self, server, workers, interval=0.02):
        self.server, self.workers, self.interval = server, workers, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(self.interval):
            pids, _ = server_pids(self.server, self.workers)
            self.peak = max(self.peak, resident_bytes(pids))

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


def large_jpeg(width, height, seed=0):
    """A width x height JPEG (quality 90) of random filled rectangles and circles on a
    smooth background with pixel noise: a photo's size and decoding cost."""
    rng = np.random.default_rng(seed)
    background = cv2.resize(rng.integers(0, 256, (height // 256 + 2, width // 256 + 2, 3),
                                         dtype=np.uint8), (width, height))
    for _ in range(60):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(height // 40, height // 6))
        if rng.random() < 0.5:
            cv2.rectangle(background, (x, y), (x + size, y + size), color, -1)
        else:
            cv2.circle(background, (x, y), size // 2, color, -1)
    background = cv2.add(background, rng.integers(0, 8, background.shape, dtype=np.uint8))
    return cv2.imencode(".jpg", background, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


async def large_and_small(port, large, small, count):
    """(LoadResult of ``count`` uploads of ``large`` at once, latencies of ``small`` sent one
    after another while they are in flight)."""
    larges = asyncio.ensure_future(run_load(HOST, port, [large], count, count))
    await asyncio.sleep(0.5)                 # the large uploads arrive and queue
    latencies = []
    while not larges.done():
        result = await run_load(HOST, port, [small], 1, 1)
        if result.errors:
            raise SystemExit("a small request was refused while the large ones ran")
        latencies += result.latencies
    return await larges, latencies


def measure_large(args, encoded):
    """Print the server's peak memory and the latencies under --large concurrent uploads
    of a --large_size JPEG."""
    width, height = args.large_size
    large = large_jpeg(width, height)
    print(f"{args.large} concurrent {width}x{height} JPEGs of {len(large) / 1e6:.2f} MB; small "
          f"requests: the {len(encoded)} images of {args.image_dir}", flush=True)
    port = args.port or free_port()
    setup = args.setups[0]
    server = start_server(args, port, setup, setup[3] or args.max_batch_size)
    try:
        small = [raw_request(HOST, port, "/predict", data) for data in encoded]
        asyncio.run(run_load(HOST, port, small, 1, len(small)))    # warm-up
        idle = resident_bytes(server_pids(server, setup[0])[0])
        memory = PeakMemory(server, setup[0])
        memory.start()
        larges, latencies = asyncio.run(large_and_small(
            port, raw_request(HOST, port, "/predict", large), small[0], args.large))
        peak = memory.stop()
    finally:
        stop_server(server)
    print(f"server {name(setup)}: resident memory {idle / 2 ** 30:.2f} GiB idle, peak "
          f"{peak / 2 ** 30:.2f} GiB (all its processes)")
    print(f"large requests: {len(larges.latencies) - larges.errors} answered 200, "
          f"{larges.errors} refused; latency median {statistics.median(larges.latencies):.2f}"
          f" s, max {max(larges.latencies):.2f} s")
    print(f"small requests meanwhile: {len(latencies)}, latency median "
          f"{statistics.median(latencies):.3f} s, max {max(latencies):.3f} s")


def image_size_arg(text):
    """'WxH' -> (W, H) (argparse type)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
        return width, height
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 6000x4000, got "
                                         f"{text!r}") from None


def spread(values, unit=""):
    digits = 2 if unit == "x" else 1
    return (f"{statistics.median(values):.{digits}f}{unit} ({min(values):.{digits}f}-"
            f"{max(values):.{digits}f})" if len(values) > 1 else f"{values[0]:.{digits}f}{unit}")


def layout(text):
    """'WxT', 'WxPxT', optionally '/B' -> (W server processes, P predictor processes each, T
    threads each, max batch size B or None) (argparse type)."""
    try:
        shape, _, batch = text.lower().partition("/")
        counts = [int(v) for v in shape.split("x")]
        workers, processes, threads = counts if len(counts) == 3 else (counts[0], 1, counts[1])
        return workers, processes, threads, int(batch) if batch else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WORKERSx[PROCESSESx]THREADS[/MAX_BATCH_"
                                         f"SIZE] such as 1x2, 2x1/8 or 1x2x1/16, got "
                                         f"{text!r}") from None


def predictor_layout(setup):
    """(predictor processes in all, threads each) of a server layout."""
    workers, processes, threads = setup[:3]
    return workers * processes, threads


def counted(count, unit):
    plural = unit + ("es" if unit.endswith("s") else "s")
    return f"{count} {plural if count > 1 else unit}"


def name(setup):
    """'1 worker x 2 predictor processes x 1 thread' of a server layout."""
    workers, processes, threads = setup[:3]
    return (f"{counted(workers, 'worker')} x {counted(processes, 'predictor process')} x "
            f"{counted(threads, 'thread')}")


def predictor_name(layout):
    """'2 processes x 1 thread' of a predictor layout (predictor_layout)."""
    processes, threads = layout
    return f"{counted(processes, 'process')} x {counted(threads, 'thread')}"


def summary(args, layouts, predictor, rows):
    lines = ["", f"median (range) over {args.rounds} round(s):",
             "| predictor | batch | images/s |", "| --- | --- | --- |"]
    lines += [f"| {predictor_name(setup)} | {b} | {spread(predictor[setup, b])} |"
              for setup in layouts for b in args.batch_sizes]
    lines += ["", "| server | batching | concurrency | req/s | p50 ms | p99 ms | errors | "
              "load generator CPU | server CPU | event loop CPU | images per run | "
              "predictor busy |", "| --- " * 12 + "|"]
    for (setup, label, concurrency), runs in rows.items():
        cell = {key: spread([r[key] for r in runs]) for key in runs[0]}
        errors = sum(r["errors"] for r in runs)
        lines.append(f"| {name(setup)} | {label} | {concurrency} | {cell['rate']} | "
                     f"{cell['p50']} | {cell['p99']} | {errors} | {cell['client_cpu']}% | "
                     f"{cell['server_cpu']}% | {cell['loop_cpu']}% | {cell['batch']} | "
                     f"{cell['busy']}% |")
    top = max(args.concurrency)

    def best(setup):
        return [max(predictor[setup, b][i] for b in args.batch_sizes)
                for i in range(args.rounds)]
    lines.append("")
    for setup, label, concurrency in rows:
        if concurrency != top:
            continue
        runs = [run["rate"] for run in rows[setup, label, concurrency]]
        for baseline in dict.fromkeys([layouts[0], predictor_layout(setup)]):
            ratios = [rate / b for rate, b in zip(runs, best(baseline))]
            lines.append(f"server {name(setup)}, {label}, concurrency {top} / best batch of "
                         f"the predictor as {predictor_name(baseline)}: "
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
                        help="images per predictor measurement (per process)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--setups", type=layout, nargs="+", default=[(1, 1, CORES, None)],
                        metavar="Wx[P]xT[/B]", help="server layouts: W server processes "
                        "(--workers) of P predictor processes (--predictor_processes, default "
                        "1) of T threads (--cpu_threads) each, batching up to B images "
                        "(default --max_batch_size); the predictor is also measured as W*P "
                        "processes of T threads running at once")
    parser.add_argument("--max_batch_size", type=int, default=8,
                        help="the servers' batch limit where a setup gives none")
    parser.add_argument("--max_wait_ms", type=float, default=5.0)
    parser.add_argument("--threshold", type=float, default=None,
                        help="the requests' threshold (default: the model's draw_threshold)")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--large", type=int, default=0, metavar="N",
                        help="measure memory and latencies under N concurrent large JPEGs "
                        "instead of the throughput")
    parser.add_argument("--large_size", type=image_size_arg, default=(6000, 4000),
                        metavar="WxH", help="the large JPEG's size")
    parser.add_argument("--predictor_worker", type=int, nargs=2, metavar=("THREADS", "BATCH"),
                        help=argparse.SUPPRESS)    # one predictor process of predictors_rate
    args = parser.parse_args(argv)
    encoded = [open(path, "rb").read() for path in images_under(args.image_dir)]
    if not encoded:
        raise SystemExit(f"no images in {args.image_dir}")
    if args.predictor_worker:
        print(predictor_rate(args.model_dir, encoded, *args.predictor_worker,
                             args.predictor_images))
        return 0
    print(machine.describe(machine.cpu_info()))
    if args.large:
        measure_large(args, encoded)
        return 0
    path = "/predict" + (f"?threshold={args.threshold}" if args.threshold is not None else "")
    requests = [raw_request(HOST, 0, path, data) for data in encoded]
    # The command-line predictor's layout (one process, all cores) first: the baseline.
    layouts = list(dict.fromkeys([(1, CORES), *map(predictor_layout, args.setups)]))
    predictor, rows = {}, {}
    for round_index in range(args.rounds):
        print(f"round {round_index + 1}:", flush=True)
        for setup in layouts:
            for b in args.batch_sizes:
                rate = predictors_rate(args, *setup, b)
                predictor.setdefault((setup, b), []).append(rate)
                print(f"  predictor {predictor_name(setup)}, batch {b}: {rate:.1f} images/s",
                      flush=True)
        runs = [(setup, f"up to {setup[3] or args.max_batch_size}", setup[3] or
                 args.max_batch_size) for setup in args.setups] + [
                (setup, "off", 1) for setup in dict.fromkeys(s[:3] for s in args.setups)]
        for setup, label, size in runs[::1 if round_index % 2 == 0 else -1]:
            measure_server(args, requests, setup, size, (setup, label), rows)
    print(summary(args, layouts, predictor, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
