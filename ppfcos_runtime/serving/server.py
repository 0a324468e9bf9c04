"""Run the app with uvicorn: httptools and uvloop, the slow-client timeouts, and a graceful
shutdown (SIGINT/SIGTERM: stop accepting, finish the requests in flight within
``graceful_timeout`` seconds, then answer what is still queued and stop the predictor)."""
import os

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ppfcos_runtime.exported_model import load_exported_model

from .app import create_app, run_options
from .settings import ServeSettings

APP_FACTORY = "ppfcos_runtime.serving.app:app_from_environment"


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers have not
    all arrived ``timeout_keep_alive`` seconds after it opened or after its last response
    (uvicorn itself times out only idle keep-alive connections, so a client trickling its
    headers would hold a connection for ever). The body's timeout is uploads.BodyLimit's."""

    header_timer = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self._arm_header_timer()

    def on_headers_complete(self):
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_response_complete(self):
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc):
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self):
        self._cancel_header_timer()
        self.header_timer = self.loop.call_later(self.timeout_keep_alive, self._headers_late)

    def _cancel_header_timer(self):
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_late(self):
        self.header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(settings):
    """uvicorn.run's keyword arguments for ``settings``."""
    return dict(host=settings.host, port=settings.port, workers=settings.workers,
                http=HeaderTimeoutProtocol, loop="uvloop",
                timeout_keep_alive=settings.client_timeout,
                timeout_graceful_shutdown=settings.graceful_timeout,
                access_log=settings.access_log, log_level="info", server_header=False,
                date_header=False)


def serve(settings: ServeSettings):
    """Serve until SIGINT/SIGTERM; DeployError for a model or options that cannot run,
    raised before the port is bound. With ``workers`` > 1 each uvicorn worker process
    builds its own app (and predictor) from the settings in the environment."""
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **uvicorn_options(settings))
        return
    run_options(settings)      # one clear error here rather than one per worker
    load_exported_model(settings.model_dir, settings.backend, settings.precision)
    settings.to_environment(os.environ)
    uvicorn.run(APP_FACTORY, factory=True, **uvicorn_options(settings))
