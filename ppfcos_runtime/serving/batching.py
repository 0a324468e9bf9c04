"""Dynamic batching: requests from the event loop queue image bytes; a worker thread takes
up to ``max_batch_size`` of them (waiting at most ``max_wait_ms`` after the first for more),
decodes them and runs them through a predictor (ppfcos_runtime's ExportDetector) in one call. There
is one worker per predictor (detector_processes.py); the workers gather batches one at a time, so
while one predictor runs, the next batch forms for another.

Work is bounded per image, not only per byte: each image is decoded within the server's
``max_side`` (shrinking.py) by the worker, one image at a time, so at most one full-size
decode per predictor exists at once, and the queue holds only the encoded bytes. Images
whose input (after that shrinking) is over ``max_batched_pixels`` wait in a lane of their
own and run alone; the workers take the two lanes in turns, so a small request waits for at
most one large image's run, never for every large image queued before it. With two or more
predictors, at most all but one run large images at once: one is always free for the others.

The ExportDetector runs only images of the same preprocessed shape together, and each image's
rows are split from the batch's outputs (``detector.split_rows``), so a request gets the
detections it would get alone. Decoding happens in the worker, not the event loop, so a large
image never stalls the other connections.
"""
import asyncio
import collections
import threading
import time
from dataclasses import dataclass

from .errors import ServeError
from .settings import DEFAULT_MAX_BATCHED_PIXELS, DEFAULT_MAX_SIDE
from .shrinking import decode_bounded, to_original


@dataclass
class Job:
    """One image: its bytes, a name for messages, and the future its rows go to."""
    data: bytes
    what: str
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


def resolve(job, result=None, error=None):
    """Set a job's future from the event loop's thread (the client may have left)."""
    def settle():
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)
    job.loop.call_soon_threadsafe(settle)


class Batcher:
    """Runs the ``detects`` callables (``detect(images) -> rows per image``, a ppfcos_runtime
    ExportDetector's ``detect`` each) on groups of queued images, one worker thread per callable.
    ``on_batch(size, seconds)`` is called after each run (the metrics). At most
    ``max_queue`` images wait; past that `submit` refuses with 503. Images are decoded
    within ``max_side`` (their rows come back in the original's pixels); those of more than
    ``max_batched_pixels`` input pixels run alone, in turns with the batches of the others,
    and on all callables but one when there are several."""

    def __init__(self, detects, max_batch_size, max_wait_ms, max_queue, on_batch=None,
                 max_side=DEFAULT_MAX_SIDE, max_batched_pixels=DEFAULT_MAX_BATCHED_PIXELS):
        self.detects = list(detects)
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch or (lambda size, seconds: None)
        self.max_side = max_side
        self.max_batched_pixels = max_batched_pixels
        self._batched = collections.deque()     # images that share runs
        self._alone = collections.deque()       # images over max_batched_pixels
        self._alone_next = False                # the lane whose turn it is when both wait
        self._alone_running = 0                 # large images in a predictor now
        self._alone_slots = max(len(self.detects) - 1, 1)
        self._ready = threading.Condition()     # guards the lanes and _closed
        self._gathering = threading.Lock()      # one worker gathers a batch at a time
        self._threads = []
        self._closed = False

    def start(self):
        self._threads = [threading.Thread(target=self._work, args=(detect,), daemon=True,
                                          name=f"ppfcos-batcher-{i}")
                         for i, detect in enumerate(self.detects)]
        for thread in self._threads:
            thread.start()

    def close(self):
        """Refuse new images, answer the queued ones, stop the workers (blocks until they
        have)."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def queued(self):
        """Images waiting for the predictor."""
        return len(self._batched) + len(self._alone)

    async def submit(self, data, what, pixels=0):
        """Detect in one image's bytes -> its rows [k, 6] (class, score, x1, y1, x2, y2) in
        the image's pixels; ``pixels``: its input pixels (shrinking.shrunk_size). ServeError
        400 if it does not decode, 503 if the queue is full or closed."""
        loop = asyncio.get_running_loop()
        job = Job(data, what, loop.create_future(), loop)
        with self._ready:
            if self._closed:
                raise ServeError(503, "shutting_down", "the server is shutting down: retry "
                                 "on another instance")
            if self.queued() >= self.max_queue:
                raise ServeError(503, "overloaded", f"{self.max_queue} images are already "
                                 f"waiting (--max_queue): retry later")
            lane = self._alone if pixels > self.max_batched_pixels else self._batched
            lane.append(job)
            self._ready.notify()
        return await job.future

    def _alone_ready(self):
        """Whether a large image waits and a predictor may take it (lock held)."""
        return bool(self._alone) and self._alone_running < self._alone_slots

    def _next_batch(self):
        """(the next run's jobs, whether they are a large image): one image of the alone
        lane, or up to max_batch_size of the batched lane (waiting at most max_wait after
        the first for more); the lanes take turns when both wait. ([], False) once the
        batcher is closed and both lanes are empty."""
        with self._ready:
            while not self._batched and not self._alone_ready():
                if self._closed and not self._alone:
                    return [], False
                self._ready.wait()
            if self._alone_ready() and (self._alone_next or not self._batched):
                self._alone_next = False
                self._alone_running += 1
                return [self._alone.popleft()], True
            self._alone_next = True
            jobs, deadline = [self._batched.popleft()], time.monotonic() + self.max_wait
            while len(jobs) < self.max_batch_size:
                if self._batched:
                    jobs.append(self._batched.popleft())
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    break
                self._ready.wait(remaining)
            return jobs, False

    def _work(self, detect):
        while True:
            with self._gathering:
                jobs, alone = self._next_batch()
            if not jobs:
                return
            try:
                self._run(jobs, detect)
            finally:
                if alone:
                    with self._ready:
                        self._alone_running -= 1
                        self._ready.notify_all()

    def _run(self, jobs, detect):
        ready = []
        for job in jobs:
            if job.future.done():      # the client left (its request was cancelled)
                continue
            try:
                ready.append((job, *decode_bounded(job.data, job.what, self.max_side)))
            except Exception as e:     # 400 (ServeError) or 500; the worker goes on
                resolve(job, error=e)
        if not ready:
            return
        started = time.perf_counter()
        try:
            rows = detect([image for _, image, _ in ready])
        except Exception as e:         # a predictor failure answers 500, the server stays up
            for job, _, _ in ready:
                resolve(job, error=e)
            return
        self.on_batch(len(ready), time.perf_counter() - started)
        for (job, _, scale), job_rows in zip(ready, rows):
            resolve(job, result=to_original(job_rows, scale))
