"""What the server runs and the limits it keeps (one frozen ServeSettings)."""
import json
import os
from dataclasses import asdict, dataclass

# The environment variable that hands the settings to uvicorn's worker processes
# (--workers > 1 starts the app from an import string in each of them).
SETTINGS_VARIABLE = "PPFCOS_SERVE_SETTINGS"
# The long side larger images are shrunk to for an export without a keep-ratio Resize
# (shrinking.py): a common detector input, where a run of the demo network costs about a
# third of one at 1333 (docs/serving.md#large-images).
DEFAULT_MAX_SIDE = 1024
# Input pixels above which an image of such an export runs alone (batching.py): 512 x 512.
DEFAULT_MAX_BATCHED_PIXELS = 512 * 512


@dataclass(frozen=True)
class ServeSettings:
    """model_dir, backend, precision, cpu_threads: each predictor (ppfcos_runtime's RunOptions).
    predictor_processes: 1, the predictor runs in the server's process; N > 1, N predictors
    run in child processes of their own (detector_processes.py). host, port, workers: where uvicorn
    listens, and how many server processes (each with its own predictors). max_batch_size,
    max_wait_ms: dynamic batching (1: every request runs alone).
    max_body_bytes: the largest request body; max_pixels: the largest image (width x height,
    read from the file's header before decoding); max_side: the long side a larger image is
    shrunk to before the predictor; max_batched_pixels: input pixels (after that shrinking)
    above which an image runs alone, in turns with the batches (None, None: from the export,
    shrinking.work_limits); max_batch_images: images in one
    /predict/batch request; max_queue: images waiting for the predictor before 503s.
    client_timeout: seconds a client has to send a request's headers, and again its body,
    and the idle keep-alive time; graceful_timeout: seconds a shutdown waits for requests in
    flight. access_log: uvicorn's line per request."""
    model_dir: str
    backend: str = "paddle"
    precision: str = "fp32"
    cpu_threads: int = os.cpu_count() or 1
    predictor_processes: int = 1
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_batch_size: int = 16
    max_wait_ms: float = 5.0
    max_body_bytes: int = 20 * 2 ** 20
    max_pixels: int = 25_000_000
    max_side: int = None
    max_batched_pixels: int = None
    max_batch_images: int = 64
    max_queue: int = 256
    client_timeout: float = 10.0
    graceful_timeout: float = 30.0
    access_log: bool = False

    def to_environment(self, environ):
        """Store the settings in ``environ`` for worker processes."""
        environ[SETTINGS_VARIABLE] = json.dumps(asdict(self))

    @classmethod
    def from_environment(cls, environ=os.environ):
        """The settings `to_environment` stored."""
        return cls(**json.loads(environ[SETTINGS_VARIABLE]))
