"""The FastAPI application: routes, the detection service behind them, and the error handlers
that turn every refusal into a 4xx with one line of JSON.

    POST /predict          one image (raw body or multipart file 'image') [?threshold=T]
                           -> [{category_id, category, score, bbox: [x, y, w, h]}, ...]
    POST /predict/batch    multipart, one file per image -> one such list per image
    GET  /health           {"status": "ok"}
    GET  /info             model, backend, precision, classes, CPU, batching and limits
    GET  /metrics          Prometheus text format (metrics.py)
"""
import asyncio
import json
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ppfcos_runtime import machine  # (ppfcos_runtime before paddle: it binds zlib first)
from ppfcos_runtime.exported_model import load_exported_model
from ppfcos_runtime.predictor import BACKENDS, RunOptions, check_options
from ppfcos_runtime.results import detection_records
import paddle  # noqa: E402

from .batching import Batcher
from .decoding import check_image
from .errors import ServeError, error_response, one_line
from .metrics import Metrics, RequestMetrics
from .detector_processes import DetectorProcesses
from .settings import ServeSettings
from .shrinking import shrunk_size, work_limits
from .uploads import BodyLimit, many_images, one_image

ENDPOINTS = ("/predict", "/predict/batch", "/health", "/info", "/metrics")


def run_options(settings):
    """The RunOptions of the settings (CPU; checked against the backend's capabilities)."""
    options = RunOptions(cpu_threads=settings.cpu_threads, precision=settings.precision,
                         batch_size=settings.max_batch_size)
    check_options(settings.backend, options)
    return options


class DetectionService:
    """The exported model, its predictors behind a Batcher, and what /info tells."""

    def __init__(self, settings, metrics):
        options = run_options(settings)
        self.settings = settings
        self.model = load_exported_model(settings.model_dir, settings.backend,
                                         settings.precision)
        self.max_side, self.max_batched_pixels = work_limits(
            settings.max_side, settings.max_batched_pixels, self.model.preprocess)
        self.predictors = DetectorProcesses(self.model, settings, options)
        self.batcher = Batcher(self.predictors.detects, settings.max_batch_size,
                               settings.max_wait_ms, settings.max_queue,
                               on_batch=metrics.observe_batch, max_side=self.max_side,
                               max_batched_pixels=self.max_batched_pixels)
        metrics.queued.set_function(self.batcher.queued)

    def close(self):
        """Answer the queued images, then stop the predictors."""
        self.batcher.close()
        self.predictors.close()

    async def detect(self, data, what):
        """Rows [k, 6] of one image's bytes, in its pixels; ServeError for an image that is
        not a JPEG, PNG or BMP within max_pixels, or that the batcher refuses."""
        width, height = check_image(data, self.settings.max_pixels, what)
        input_width, input_height = shrunk_size(width, height, self.max_side)
        return await self.batcher.submit(data, what, input_width * input_height)

    def threshold(self, text):
        """The ``threshold`` query value as a float in [0, 1] (infer_cfg's draw_threshold
        when absent); ServeError 422 otherwise."""
        if text is None:
            return self.model.draw_threshold
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not 0 <= value <= 1:
            raise ServeError(422, "bad_threshold", f"threshold must be a number from 0 to 1, "
                             f"got {text!r}")
        return value

    def records(self, rows, threshold):
        """The answer for one image: its rows with score >= threshold, as bbox.json records."""
        return detection_records(rows[rows[:, 1] >= threshold], self.model.label_list,
                                 self.model.category_ids)

    def info(self):
        s = self.settings
        return {"model_dir": s.model_dir, "backend": s.backend,
                "backend_title": BACKENDS[s.backend].title, "precision": s.precision,
                "classes": list(self.model.label_list),
                "category_ids": list(self.model.category_ids),
                "draw_threshold": self.model.draw_threshold,
                "cpu": machine.describe(machine.cpu_info()), "cpu_threads": s.cpu_threads,
                "predictor_processes": s.predictor_processes,
                "paddle": paddle.__version__,
                "batching": {"max_batch_size": s.max_batch_size, "max_wait_ms": s.max_wait_ms},
                "limits": {"max_body_bytes": s.max_body_bytes, "max_pixels": s.max_pixels,
                           "max_side": self.max_side,
                           "max_batched_pixels": self.max_batched_pixels,
                           "max_batch_images": s.max_batch_images, "max_queue": s.max_queue,
                           "client_timeout_s": s.client_timeout}}


def json_response(value, status=200):
    return Response(json.dumps(value).encode(), status_code=status,
                    media_type="application/json")


def first_error(results):
    """Raise the first exception among ``results`` (asyncio.gather's, return_exceptions)."""
    error = next((r for r in results if isinstance(r, BaseException)), None)
    if error is not None:
        raise error
    return results


def add_routes(app, service, metrics):
    settings = service.settings

    @app.post("/predict")
    async def predict(request: Request):
        threshold = service.threshold(request.query_params.get("threshold"))
        data = await one_image(request)
        rows = await service.detect(data, "the image")
        return json_response(service.records(rows, threshold))

    @app.post("/predict/batch")
    async def predict_batch(request: Request):
        threshold = service.threshold(request.query_params.get("threshold"))
        images = await many_images(request, settings.max_batch_images)
        named = [(data, f"image {i} ({name})") for i, (name, data) in enumerate(images)]
        for data, what in named:     # every image is checked before any is queued
            check_image(data, settings.max_pixels, what)
        results = first_error(await asyncio.gather(
            *(service.detect(data, what) for data, what in named),
            return_exceptions=True))
        return json_response([service.records(rows, threshold) for rows in results])

    @app.get("/health")
    async def health():
        return json_response({"status": "ok"})

    @app.get("/info")
    async def info():
        return json_response(service.info())

    @app.get("/metrics")
    async def prometheus():
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)


def add_error_handlers(app, metrics):
    def refused(error):
        metrics.errors.labels(error.reason).inc()
        return error_response(error)

    @app.exception_handler(ServeError)
    async def serve_error(request, error):
        return refused(error)

    @app.exception_handler(HTTPException)
    async def http_error(request, error):
        reason = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http")
        return refused(ServeError(error.status_code, reason,
                                  f"{request.method} {request.url.path}: {error.detail} "
                                  f"(endpoints: {', '.join(ENDPOINTS)})"))

    @app.exception_handler(Exception)
    async def internal_error(request, error):
        metrics.errors.labels("internal").inc()
        return error_response(ServeError(500, "internal",
                                         f"the predictor failed: {one_line(error)}"))


def create_app(settings):
    """The FastAPI app serving ``settings.model_dir``; DeployError (from ppfcos_runtime) for a
    model or options the backend cannot run, before anything listens."""
    metrics = Metrics(ENDPOINTS)
    service = DetectionService(settings, metrics)

    @asynccontextmanager
    async def lifespan(app):
        service.batcher.start()
        yield
        # uvicorn has finished the requests in flight (or given up after graceful_timeout)
        await asyncio.get_running_loop().run_in_executor(None, service.close)

    app = FastAPI(title="ppfcos detection server", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    add_routes(app, service, metrics)
    add_error_handlers(app, metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       timeout=settings.client_timeout, errors=metrics.errors)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.state.service = service
    return app


def app_from_environment():
    """The app of the settings in the environment (uvicorn's factory for --workers > 1)."""
    return create_app(ServeSettings.from_environment())
