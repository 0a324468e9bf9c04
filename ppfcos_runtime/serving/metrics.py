"""The server's Prometheus metrics (``GET /metrics``, text format): requests by endpoint and
status, request latency, predictor batch sizes and times, refusals by reason, queued images."""
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class Metrics:
    """The metrics of one server process, in their own registry. ``endpoints``: the paths
    counted by name (any other path counts as 'other')."""

    def __init__(self, endpoints):
        self.endpoints = set(endpoints)
        self.registry = CollectorRegistry()
        self.requests = Counter("ppfcos_requests", "HTTP requests answered",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("ppfcos_request_seconds", "time from a request's start to "
                                 "its response", ["endpoint"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.batch_size = Histogram("ppfcos_batch_size", "images per predictor run",
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.batch_seconds = Histogram("ppfcos_batch_seconds", "time of a predictor run "
                                       "(preprocess, inference, postprocess)",
                                       buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("ppfcos_errors", "refused or failed requests", ["reason"],
                              registry=self.registry)
        self.queued = Gauge("ppfcos_queued_images", "images waiting for the predictor",
                            registry=self.registry)

    def endpoint(self, path):
        return path if path in self.endpoints else "other"

    def observe_batch(self, size, seconds):
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def exposition(self):
        """(body bytes, content type) of the text format."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestMetrics:
    """ASGI middleware counting every HTTP response (also the refusals of the middlewares
    inside it) by endpoint and status, with its latency."""

    def __init__(self, app, metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def recording_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            endpoint = self.metrics.endpoint(scope["path"])
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
