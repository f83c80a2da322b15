"""A real Radicale 3 CalDAV server on 127.0.0.1, in-process, for tests.

Radicale's WSGI application runs under ``wsgiref`` in a thread: it is ready
as soon as the socket is bound (no polling, no sleeps). Every request is
recorded (method, path and, for a REPORT, the root element of its body, e.g.
``calendar-query`` or ``sync-collection``), and :attr:`RadicaleServer.intercept`
may answer a request itself to simulate failures.
"""

from __future__ import annotations

import io
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import caldav
import radicale
import radicale.config


@dataclass(frozen=True)
class Request:
    """One request that reached the server."""

    method: str
    path: str
    report: str | None  # root element of a REPORT body: "calendar-query", "sync-collection"…
    body: bytes
    #: Request headers but Authorization, lower-case names (``if-match``…).
    headers: dict[str, str] = field(default_factory=dict, compare=False)


#: A canned answer: (status line, headers, body).
Reply = tuple[str, list[tuple[str, str]], bytes]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _root_name(body: bytes) -> str | None:
    try:
        tag = ET.fromstring(body).tag  # noqa: S314 - our own client's request
    except ET.ParseError:
        return None
    return tag.rsplit("}", 1)[-1]


class RadicaleServer:
    """Radicale with htpasswd (plain) users, its storage under ``root``."""

    def __init__(self, root: Path, users: dict[str, str]):
        root.mkdir(parents=True, exist_ok=True)
        htpasswd = root / "htpasswd"
        htpasswd.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
        configuration = radicale.config.load()
        configuration.update(
            {
                "storage": {"filesystem_folder": str(root / "collections")},
                "auth": {
                    "type": "htpasswd",
                    "htpasswd_filename": str(htpasswd),
                    "htpasswd_encryption": "plain",
                    "delay": "0",
                },
            },
            "test",
            privileged=True,
        )
        self.app = radicale.Application(configuration)
        self.requests: list[Request] = []
        self.intercept: Callable[[Request], Reply | None] | None = None
        self._server: WSGIServer = make_server(
            "127.0.0.1", 0, self._wsgi, handler_class=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        method = environ["REQUEST_METHOD"]
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_") and key != "HTTP_AUTHORIZATION"
        }
        request = Request(
            method,
            environ["PATH_INFO"],
            _root_name(body) if method == "REPORT" else None,
            body,
            headers,
        )
        self.requests.append(request)
        reply = self.intercept(request) if self.intercept else None
        if reply is not None:
            status, headers, content = reply
            start_response(status, [*headers, ("Content-Length", str(len(content)))])
            return [content]
        return self.app(environ, start_response)

    def reports(self) -> list[str | None]:
        """The kinds of the REPORT requests received so far."""
        return [r.report for r in self.requests if r.method == "REPORT"]

    def writes(self) -> list[Request]:
        """The requests received so far that change an object (PUT, DELETE)."""
        return [r for r in self.requests if r.method in ("PUT", "DELETE")]

    def client(self, username: str, password: str) -> caldav.DAVClient:
        """A caldav client for one of the users."""
        return caldav.DAVClient(
            url=self.url, username=username, password=password, auth_type="basic", timeout=10
        )

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
