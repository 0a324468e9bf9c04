"""Dynamic batching: requests from the event loop queue image bytes; a worker thread takes
up to ``max_batch_size`` of them (waiting at most ``max_wait_ms`` after the first for more),
decodes them and runs them through a predictor (ppfcos_deploy's Detector) in one call. There
is one worker per predictor (predictors.py); the workers gather batches one at a time, so
while one predictor runs, the next batch forms for another.

The Detector runs only images of the same preprocessed shape together, and each image's
rows are split from the batch's outputs (``detector.split_rows``), so a request gets the
detections it would get alone. Decoding happens in the worker, not the event loop, so a large
image never stalls the other connections.
"""
import asyncio
import queue
import threading
import time
from dataclasses import dataclass

from .decoding import decode_checked
from .errors import ServeError

STOP = object()


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
    """Runs the ``detects`` callables (``detect(images) -> rows per image``, a ppfcos_deploy
    Detector's ``detect`` each) on groups of queued images, one worker thread per callable.
    ``on_batch(size, seconds)`` is called after each run (the metrics). At most
    ``max_queue`` images wait; past that :meth:`submit` refuses with 503."""

    def __init__(self, detects, max_batch_size, max_wait_ms, max_queue, on_batch=None):
        self.detects = list(detects)
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch or (lambda size, seconds: None)
        self._queue = queue.Queue()
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
        self._closed = True
        if self._threads:
            self._queue.put(STOP)
            for thread in self._threads:
                thread.join()
            self._threads = []

    def queued(self):
        """Images waiting for the predictor (approximately)."""
        return self._queue.qsize()

    async def submit(self, data, what):
        """Detect in one image's bytes -> its rows [k, 6] (class, score, x1, y1, x2, y2);
        ServeError 400 if it does not decode, 503 if the queue is full or closed."""
        if self._closed:
            raise ServeError(503, "shutting_down", "the server is shutting down: retry "
                             "on another instance")
        if self._queue.qsize() >= self.max_queue:
            raise ServeError(503, "overloaded", f"{self.max_queue} images are already waiting "
                             f"(--max_queue): retry later")
        loop = asyncio.get_running_loop()
        job = Job(data, what, loop.create_future(), loop)
        self._queue.put(job)
        return await job.future

    def _next_batch(self):
        """Up to max_batch_size jobs (the first waited for without limit), and whether STOP
        was seen."""
        first = self._queue.get()
        if first is STOP:
            return [], True
        jobs, deadline = [first], time.monotonic() + self.max_wait
        while len(jobs) < self.max_batch_size:
            try:
                job = self._queue.get(timeout=max(deadline - time.monotonic(), 0)) \
                    if self.max_wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is STOP:
                return jobs, True
            jobs.append(job)
        return jobs, False

    def _work(self, detect):
        stop = False
        while not stop:
            with self._gathering:
                jobs, stop = self._next_batch()
                if stop:       # take what is still queued, and pass STOP to the next worker
                    jobs += self._drain()
                    self._queue.put(STOP)
            if jobs:
                self._run(jobs, detect)

    def _drain(self):
        jobs = []
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return jobs
            if job is not STOP:
                jobs.append(job)

    def _run(self, jobs, detect):
        ready = []
        for job in jobs:
            if job.future.done():      # the client left (its request was cancelled)
                continue
            try:
                ready.append((job, decode_checked(job.data, job.what)))
            except ServeError as e:
                resolve(job, error=e)
        for start in range(0, len(ready), self.max_batch_size):
            group = ready[start:start + self.max_batch_size]
            started = time.perf_counter()
            try:
                rows = detect([image for _, image in group])
            except Exception as e:     # a predictor failure answers 500, the server stays up
                for job, _ in group:
                    resolve(job, error=e)
                continue
            self.on_batch(len(group), time.perf_counter() - started)
            for (job, _), job_rows in zip(group, rows):
                resolve(job, result=job_rows)
