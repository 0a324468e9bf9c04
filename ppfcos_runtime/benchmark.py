"""Time spent per stage, and the figures ``--run_benchmark`` prints and writes."""
import json
import resource
import sys
import time
from contextlib import contextmanager

STAGES = ("preprocess", "inference", "postprocess")


class Timings:
    """Seconds per stage (STAGES) and the number of images they were spent on."""

    def __init__(self):
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.images = 0

    @contextmanager
    def measure(self, stage):
        """Add the time spent in the ``with`` block to ``stage``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start

    def per_image_ms(self):
        """{stage: mean milliseconds per image} over STAGES."""
        images = max(self.images, 1)
        return {stage: 1000 * s / images for stage, s in self.seconds.items()}

    def write_json(self, path, **run):
        """Write ``run`` (backend, precision, threads, batch_size) with ``images`` and
        ``<stage>_ms`` per-image means as JSON to ``path``; returns the dict."""
        record = {**run, "images": self.images,
                  **{f"{stage}_ms": ms for stage, ms in self.per_image_ms().items()}}
        with open(path, "w") as f:
            json.dump(record, f, indent=1)
        return record

    def report(self):
        """Lines of mean milliseconds per image per stage, fps and peak memory."""
        per_image = self.per_image_ms()
        total = sum(per_image.values())
        return [f"benchmark over {self.images} image(s):",
                "  " + ", ".join(f"{stage} {ms:.2f} ms" for stage, ms in per_image.items())
                + " per image",
                f"  total {total:.2f} ms per image, {1000 / total if total else 0:.2f} fps",
                f"  peak memory (max RSS) {peak_memory_mb():.1f} MB"]


def peak_memory_mb():
    """This process's peak resident memory in MB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 2 ** 10
