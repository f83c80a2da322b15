"""The local web view (``calsync web``) and ``/metrics``: see :mod:`calsync.web.app`.

:func:`serve` runs it with uvicorn; :func:`start_in_thread` runs it beside
the service (``[web] enabled = true`` with ``calsync run``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from calsync.service import Calsync

logger = logging.getLogger(__name__)


@dataclass
class RunningServer:
    """A web view served from a background thread."""

    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        """Ask the server to stop and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _server(cs: Calsync, host: str, port: int) -> Any:
    import uvicorn

    from calsync.web.app import WebState, create_app

    state = WebState(cs, host, port)
    config = uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    return uvicorn.Server(config)


def serve(cs: Calsync, host: str, port: int) -> None:
    """Serve the web view in this thread until interrupted (SIGINT/SIGTERM)."""
    server = _server(cs, host, port)
    logger.info("web view on http://%s:%d/", host, port)
    server.run()


def start_in_thread(cs: Calsync, host: str, port: int) -> RunningServer:
    """Serve the web view from a daemon thread (uvicorn leaves signals to the main thread)."""
    server = _server(cs, host, port)
    thread = threading.Thread(target=server.run, name="calsync-web", daemon=True)
    thread.start()
    logger.info("web view on http://%s:%d/", host, port)
    return RunningServer(server, thread)
