"""The local web view (``calsync web``) and ``/metrics``: see :mod:`calsync.web.app`.

:func:`serve` runs it with uvicorn in the calling thread; :func:`start_in_thread`
runs it beside the service (``[web] enabled = true`` with ``calsync run``) or
in tests (on a socket bound beforehand, so the port is known and connections
queue until the server accepts them).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from calsync.service import Calsync

if TYPE_CHECKING:
    from calsync.targets.base import Target

logger = logging.getLogger(__name__)

#: The modules of the ``calsync[web]`` extra (pyproject.toml), imported only when serving.
EXTRA_MODULES = ("starlette", "uvicorn", "jinja2")


def require_extra() -> None:
    """Check that ``calsync[web]`` is installed, before anything is opened or printed.

    Raises:
        InputError: one of :data:`EXTRA_MODULES` cannot be imported (exit 2, as
            ``heatmap --png`` without ``calsync[plot]``).

    """
    import importlib

    from calsync.errors import InputError

    for name in EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise InputError(
                f"the web view needs calsync[web]: pip install 'calsync[web]' "
                f"(no module named {name!r})"
            ) from err


@dataclass
class RunningServer:
    """A web view served from a background thread."""

    server: Any
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        """Ask the server to stop and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _server(cs: Calsync, host: str, port: int, targets: list[Target] | None) -> Any:
    import uvicorn

    from calsync.web.app import WebState, create_app

    state = WebState(cs, host, port, targets)
    config = uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="off",
    )
    return uvicorn.Server(config)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port).

    Raises:
        WebError: the address cannot be used (in use, not this machine's, unknown).

    """
    from calsync.web.security import WebError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _name, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as err:
        raise WebError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as err:
        sock.close()
        raise WebError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(
    cs: Calsync, host: str, port: int, on_listening: Callable[[str], None] | None = None
) -> None:
    """Serve the web view in this thread until interrupted (SIGINT/SIGTERM).

    ``on_listening`` is called with the view's URL once the socket listens
    (connections queue from then on), so nothing announces an address that
    turns out unusable.

    Raises:
        WebError: the address cannot be used, or the access token is unsafe.

    """
    sock = listen(host, port)
    try:
        bound = sock.getsockname()[1]
        server = _server(cs, host, bound, None)
    except BaseException:
        sock.close()
        raise
    logger.info("web view on %s/", _url(host, bound))
    if on_listening is not None:
        on_listening(_url(host, bound))
    server.run(sockets=[sock])


def start_in_thread(
    cs: Calsync, host: str, port: int, targets: list[Target] | None = None
) -> RunningServer:
    """Serve the web view from a daemon thread (uvicorn leaves signals to the main thread).

    ``port`` 0 picks a free port (see :attr:`RunningServer.url`). The socket
    is bound and listening before this returns.

    Raises:
        WebError: the address cannot be used, or the access token is unsafe.

    """
    sock = listen(host, port)
    bound = sock.getsockname()[1]
    try:
        server = _server(cs, host, bound, targets)
    except BaseException:
        sock.close()
        raise
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="calsync-web", daemon=True
    )
    thread.start()
    logger.info("web view on %s/", _url(host, bound))
    return RunningServer(server, thread, _url(host, bound))
