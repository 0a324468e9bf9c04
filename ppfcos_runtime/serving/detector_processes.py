"""The exported model's detectors: one in the server's process, or ``--predictor_processes N``
copies, each in a child process of its own.

A Paddle Inference run holds the GIL, so two detectors in one process take turns; in child
processes their runs overlap, and a small model that uses a second thread poorly runs faster
as two one-thread detectors than as one two-thread detector (docs/benchmarks.md#serving).
Each is a ``detect(images) -> rows per image`` callable (ppfcos_runtime's
``ExportDetector.detect``: images RGB uint8 [H, W, 3], as ppfcos_runtime.media decodes them,
rows [k, 6] float32 of class, score, x1, y1, x2, y2), which the Batcher's worker threads
call, one worker per detector.
"""
import multiprocessing

from ppfcos_runtime.errors import DeployError
from ppfcos_runtime.factory import load_detector

from .errors import one_line

# Children start from a fresh interpreter: a forked Paddle (threads, oneDNN state) is unsafe.
CONTEXT = multiprocessing.get_context("spawn")
STARTUP_TIMEOUT = 300


def serve_in_child(connection, model_dir, backend, options):
    """The child's loop: load the model, say "ready" (or ("refused", the DeployError's
    message) and end), then answer each list of images with ("rows", rows per image) or
    ("error", one line) until it receives None."""
    try:
        detect = load_detector(model_dir, backend, options).detect
    except DeployError as e:       # the parent raises it: one line, exit status 1
        connection.send(("refused", str(e)))
        return
    connection.send(("ready", None))
    while True:
        images = connection.recv()
        if images is None:
            return
        try:
            connection.send(("rows", detect(images)))
        except Exception as e:     # the parent answers 500; this detector goes on
            connection.send(("error", one_line(e)))


class DetectorProcess:
    """``detect(images)`` run by a child process (serve_in_child). A child that died (killed,
    out of memory) fails the run it was in with RuntimeError and is replaced on the next one.
    Calls must not overlap: each belongs to one Batcher worker."""

    def __init__(self, model_dir, backend, options, name):
        self._args = (model_dir, backend, options)
        self.name = name
        self._start()

    def _start(self):
        self._connection, child = CONTEXT.Pipe()
        self._process = CONTEXT.Process(target=serve_in_child, args=(child, *self._args),
                                        name=self.name, daemon=True)
        self._process.start()
        child.close()
        self._ready = False

    def wait_ready(self):
        """Block until the child has loaded the model; DeployError if the model cannot run
        (a damaged file), RuntimeError if the child ended or took too long."""
        if self._ready:
            return
        if not self._connection.poll(STARTUP_TIMEOUT):
            raise RuntimeError(f"{self.name} did not load the model in {STARTUP_TIMEOUT} s")
        self._receive()
        self._ready = True

    def _receive(self):
        try:
            status, value = self._connection.recv()
        except (EOFError, OSError):
            self._process.join(5)
            raise RuntimeError(f"{self.name} ended (exit code {self._process.exitcode})") \
                from None
        if status == "error":
            raise RuntimeError(value)
        if status == "refused":
            raise DeployError(value)
        return value

    def detect(self, images):
        if not self._process.is_alive():
            self._connection.close()
            self._start()
        self.wait_ready()
        try:
            self._connection.send(images)
        except OSError:
            pass                   # the child is gone: _receive says so
        return self._receive()

    def close(self):
        """Ask the child to stop; kill it if it has not within 10 s."""
        if self._process.is_alive():
            try:
                self._connection.send(None)
            except OSError:
                pass
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()


class DetectorProcesses:
    """The ``detect`` callables the server runs: ``processes`` children (DetectorProcess), or
    with ``processes`` 1, one ExportDetector in this process."""

    def __init__(self, model, settings, options):
        if settings.predictor_processes == 1:
            self.processes = []
            self.detects = [load_detector(model, settings.backend, options).detect]
            return
        self.processes = [DetectorProcess(settings.model_dir, settings.backend, options,
                                           f"ppfcos-predictor-{i}")
                          for i in range(settings.predictor_processes)]
        try:
            for process in self.processes:
                process.wait_ready()
        except (RuntimeError, DeployError):
            self.close()
            raise
        self.detects = [process.detect for process in self.processes]

    def close(self):
        for process in self.processes:
            process.close()
