"""ICS sources against hostile servers, names and files (issue 12, items 1 and 3).

Every server here is a real socket on 127.0.0.1. Name resolution
(``socket.getaddrinfo``) and outgoing connections (``socket.socket.connect``/``connect_ex``,
``socket.create_connection``) are patched in-process where a test must prove
where a connection went: the recorder lets a connection to 127.0.0.1 through
and refuses every other one without sending a packet.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calsync.cli import main
from calsync.clock import FixedClock
from calsync.errors import SourceError, TransientSourceError
from calsync.sources.http_fetch import (
    MAX_HEADER_BYTES,
    UrlPolicy,
    address_problem,
    fetch_url,
    is_public_address,
)
from calsync.sources.ics import IcsSource

BERLIN = ZoneInfo("Europe/Berlin")
CLOCK = FixedClock(datetime(2026, 11, 27, 12, tzinfo=UTC))
PUBLIC = "93.184.215.14"  # stands for "somewhere on the internet"; never really connected to

FEED = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
    b"BEGIN:VEVENT\r\nUID:one\r\nDTSTART:20261126T090000Z\r\nDTEND:20261126T100000Z\r\n"
    b"SUMMARY:coding\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


# --------------------------------------------------------------------------- servers

Handler = Callable[[socket.socket, bytes], None]


class RawServer:
    """A TCP server on 127.0.0.1 that hands each request's head to ``handler``.

    ``requests`` records the head (request line and headers) of every request.
    """

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            self.requests.append(head)
            self.handler(conn, head)
        except OSError:
            pass  # the client went away (as it should, when it gives up)
        finally:
            conn.close()

    def close(self) -> None:
        self._closed = True
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler, tls: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(handler, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def answer(status: str = "200 OK", headers: tuple[str, ...] = (), body: bytes = FEED) -> Handler:
    def handler(conn: socket.socket, head: bytes) -> None:
        lines = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}", "", ""]
        conn.sendall("\r\n".join(lines).encode("latin-1") + body)

    return handler


def trickle(prefix: bytes, interval: float, count: int = 60) -> Handler:
    """Send ``prefix``, then one byte every ``interval`` seconds (``count`` at most)."""

    def handler(conn: socket.socket, head: bytes) -> None:
        conn.sendall(prefix)
        for _ in range(count):
            time.sleep(interval)  # the trickle itself: only inside the server
            conn.sendall(b"a")

    return handler


def host_of(head: bytes) -> str | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "host":
            return value.strip()
    return None


# --------------------------------------------------------------------------- network patches


@dataclass
class Network:
    """Patched resolution and connections: names answer from ``names``; connects recorded."""

    names: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    connects: list[tuple[str, int]] = field(default_factory=list)

    def answer(self, name: str, *answers: list[str]) -> None:
        """``name`` resolves to ``answers[0]`` first, then ``answers[1]`` … (the last repeats)."""
        self.names[name] = list(answers)


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    net = Network()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> list[Any]:
        if host not in net.names:
            return real_getaddrinfo(host, port, *args, **kw)
        net.lookups.append(host)
        queue = net.names[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port or 0, 0, 0) if ":" in a else (a, port or 0),
            )
            for a in addresses
        ]

    def connect(self: socket.socket, address: Any) -> None:
        if self.family not in (socket.AF_INET, socket.AF_INET6):
            real_connect(self, address)  # a local (AF_UNIX) socket, e.g. multiprocessing's
            return
        net.connects.append((address[0], address[1]))
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError(111, "refused by the test (no packet sent)")
        real_connect(self, address)

    real_connect_ex = socket.socket.connect_ex

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family not in (socket.AF_INET, socket.AF_INET6):
            return real_connect_ex(self, address)
        net.connects.append((address[0], address[1]))
        if address[0] != "127.0.0.1":
            return errno.ECONNREFUSED  # refused by the test (no packet sent)
        return real_connect_ex(self, address)

    def create_connection(address: Any, *args: Any, **kw: Any) -> socket.socket:
        net.connects.append((address[0], address[1]))
        raise ConnectionRefusedError(111, "create_connection is not how calsync connects")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return net


def loopback_as_public() -> UrlPolicy:
    """The real rules, except that 127.0.0.1 (the test servers) passes as public."""

    def check(address: str) -> str | None:
        return None if address == "127.0.0.1" else address_problem(address)

    return UrlPolicy(address_check=check)


def fetch(url: str, policy: UrlPolicy | None = None, **kw: Any) -> Any:
    kw.setdefault("max_bytes", 1_000_000)
    kw.setdefault("deadline_seconds", 5.0)
    return fetch_url(url, policy or UrlPolicy(allow_private_network=True), **kw)


def short_and_clean(err: BaseException) -> None:
    """A message a user can read: short, one line, no library reprs."""
    text = str(err)
    assert len(text) < 400, text
    assert "\n" not in text
    for leak in ("Traceback", "http.client", "urllib", "<", "HTTPMessage"):
        assert leak not in text, text


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("address", "public"),
    [
        # public unicast, and the embedded forms of a public IPv4 address
        ("93.184.215.14", True),
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:93.184.215.14", True),  # IPv4-mapped public
        ("2002:5db8:d70e::1", True),  # 6to4 of 93.184.215.14
        ("64:ff9b::5db8:d70e", True),  # NAT64 of 93.184.215.14
        # IPv4
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # CGNAT
        ("100.127.255.255", False),
        ("0.0.0.0", False),  # noqa: S104 - an address under test, not a bind
        ("0.1.2.3", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.0.8", False),
        ("192.0.2.1", False),  # documentation
        ("198.51.100.7", False),
        ("203.0.113.9", False),
        ("198.18.0.1", False),  # benchmarking
        ("198.19.255.255", False),
        ("192.88.99.1", False),  # 6to4 relay anycast
        # IPv6
        ("::", False),
        ("::1", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("ff0e::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:10.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::ffff:100.64.0.1", False),
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated)
        ("::ffff:0:7f00:1", False),  # IPv4-translated
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
        ("2002:6440:1::1", False),  # 6to4 of 100.64.0.1
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::c0a8:101", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b:1::a00:1", False),  # local-use NAT64
        ("64:ff9b:1::5db8:d70e", False),  # local-use NAT64, even with a public IPv4 inside
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("2001:db8::1", False),  # documentation
        ("3fff::1", False),  # documentation (RFC 9637)
        ("2001:2::1", False),  # benchmarking
        ("2001:10::1", False),  # ORCHID
        ("100::1", False),  # discard-only
        ("5f00::1", False),  # segment routing
        ("not-an-address", False),
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_embedded_forms_name_the_address_inside() -> None:
    assert address_problem("2002:a00:1::1") == "6to4 form of 10.0.0.1, private"
    assert address_problem("64:ff9b::7f00:1") == "NAT64 form of 127.0.0.1, loopback"
    assert address_problem("::ffff:169.254.169.254") == (
        "IPv4-mapped form of 169.254.169.254, link-local"
    )


# --------------------------------------------------------------------------- SSRF


def test_rebinding_name_is_connected_only_at_the_address_checked(
    network: Network, serve: Callable[..., RawServer]
) -> None:
    server = serve(answer())
    # Public when checked, loopback on any later lookup: the classic rebinding answer.
    network.answer("rebind.test", [PUBLIC], ["127.0.0.1"])
    feed = IcsSource("team", BERLIN, CLOCK, url=f"http://rebind.test:{server.port}/feed.ics")
    with pytest.raises(TransientSourceError, match=r"cannot connect to rebind\.test") as caught:
        feed.fetch(None)
    short_and_clean(caught.value)
    assert network.lookups == ["rebind.test"]  # resolved once…
    assert network.connects == [(PUBLIC, server.port)]  # …connected only where checked
    assert server.requests == []
    # The next poll resolves again, gets loopback, and is refused before any connection.
    network.connects.clear()
    with pytest.raises(SourceError, match=r"non-public address 127\.0\.0\.1 \(loopback\)"):
        feed.fetch(None)
    assert network.lookups == ["rebind.test", "rebind.test"]
    assert network.connects == []
    assert server.requests == []


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        [PUBLIC, "127.0.0.1"],  # one bad address refuses the host
        ["2002:7f00:1::1"],  # 6to4 of loopback
        ["64:ff9b::a9fe:a9fe"],  # NAT64 of the metadata address
        ["::ffff:10.0.0.1"],
    ],
)
def test_a_name_with_any_private_address_is_refused_before_any_connection(
    network: Network, serve: Callable[..., RawServer], answers: list[str]
) -> None:
    server = serve(answer())
    network.answer("evil.test", answers)
    with pytest.raises(SourceError, match="allow_private_network") as caught:
        fetch(f"http://evil.test:{server.port}/feed.ics", UrlPolicy())
    assert not isinstance(caught.value, TransientSourceError)
    short_and_clean(caught.value)
    assert network.connects == []
    assert server.requests == []


def test_an_allowed_name_connects_to_the_resolved_address_with_the_name_as_host(
    network: Network, serve: Callable[..., RawServer]
) -> None:
    server = serve(answer(headers=('ETag: "v1"',)))
    network.answer("calendar.test", ["127.0.0.1"])
    feed = IcsSource(
        "team",
        BERLIN,
        CLOCK,
        url=f"http://calendar.test:{server.port}/feed.ics",
        policy=UrlPolicy(allow_private_network=True),
    )
    result = feed.fetch(None)
    assert [e.uid for e in result.events] == ["one"]
    assert network.lookups == ["calendar.test"]
    assert network.connects == [("127.0.0.1", server.port)]
    assert [host_of(head) for head in server.requests] == [f"calendar.test:{server.port}"]
    assert server.requests[0].startswith(b"GET /feed.ics HTTP/1.1\r\n")
    # Conditional GET still works through the pinned connection.
    feed.fetch(result.cursor)
    assert b'If-None-Match: "v1"' in server.requests[1]


def test_redirects_to_private_addresses_are_refused_at_every_hop(
    network: Network, serve: Callable[..., RawServer]
) -> None:
    targets = {
        "/to-loopback-2": "http://127.0.0.2:{port}/x",
        "/to-metadata": "http://169.254.169.254/latest/meta-data/",
        "/to-v6-loopback": "http://[::1]:{port}/x",
        "/to-name": "http://internal.test:{port}/x",
        "/to-6to4": "http://[2002:a00:1::1]/x",
    }

    def handler(conn: socket.socket, head: bytes) -> None:
        path = head.split(b" ")[1].decode()
        if path.startswith("/hop"):  # /hop3 → /hop2 → /hop1 → /hop0 → the bad target
            n = int(path[4 : path.index("?")])
            rest = path[path.index("?") + 1 :]
            location = f"/hop{n - 1}?{rest}" if n > 0 else targets[rest]
        else:
            location = targets[path]
        location = location.format(port=server.port)
        answer("302 Found", (f"Location: {location}",), b"")(conn, head)

    server = serve(handler)
    network.answer("internal.test", ["10.0.0.5"])
    for path in targets:
        for url in (f"{server.url}{path}", f"{server.url}/hop3?{path}"):
            network.connects.clear()
            server.requests.clear()
            with pytest.raises(SourceError, match="refused the redirect to") as caught:
                fetch(url, loopback_as_public())
            short_and_clean(caught.value)
            assert "allow_private_network" in str(caught.value)
            hops = 1 if "/hop" not in url else 4
            # Only the loopback test server was ever connected to, once per hop before it.
            assert network.connects == [("127.0.0.1", server.port)] * hops
            assert len(server.requests) == hops


def test_redirect_limits_and_foreign_schemes(serve: Callable[..., RawServer]) -> None:
    def handler(conn: socket.socket, head: bytes) -> None:
        path = head.split(b" ")[1].decode()
        location = {
            "/loop": "/loop",
            "/file": "file:///etc/passwd",
            "/gopher": "gopher://example.com/",
            "/to-feed": "/feed",
        }.get(path)
        if path == "/nowhere":
            answer("301 Moved", (), b"")(conn, head)
        elif location is None:
            answer()(conn, head)
        else:
            answer("307 Temporary Redirect", (f"Location: {location}",), b"")(conn, head)

    server = serve(handler)
    policy = loopback_as_public()
    with pytest.raises(SourceError, match="more than 5 redirects"):
        fetch(server.url + "/loop", policy)
    assert len(server.requests) == 6
    with pytest.raises(SourceError, match="more than 2 redirects"):
        fetch(server.url + "/loop", policy, max_redirects=2)
    for path, scheme in (("/file", "file"), ("/gopher", "gopher")):
        expected = f"only http and https URLs are allowed, not '{scheme}'"
        with pytest.raises(SourceError, match=expected):
            fetch(server.url + path, policy)
    with pytest.raises(SourceError, match="HTTP 301 without a Location"):
        fetch(server.url + "/nowhere", policy)
    response = fetch(server.url + "/to-feed", policy)
    assert (response.status, response.body, response.url) == (200, FEED, server.url + "/feed")


# --------------------------------------------------------------------------- deadline and limits


@pytest.mark.parametrize(
    "prefix",
    [
        b"",  # nothing but a trickled status line
        b"HTTP/1.1 200 OK\r\nX-Slow: ",  # trickled header
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",  # trickled body
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n",  # chunked body
    ],
)
def test_a_trickling_server_is_stopped_at_the_deadline(
    serve: Callable[..., RawServer], prefix: bytes
) -> None:
    # A byte every 0.2 s: no single read ever waits as long as the 1 s timeout.
    server = serve(trickle(prefix, interval=0.2))
    started = time.monotonic()
    with pytest.raises(TransientSourceError, match="no complete answer within 1 s") as caught:
        fetch(server.url + "/feed.ics", deadline_seconds=1.0)
    elapsed = time.monotonic() - started
    short_and_clean(caught.value)
    assert 0.9 < elapsed < 1.5, elapsed


def test_the_deadline_covers_every_redirect_hop(serve: Callable[..., RawServer]) -> None:
    def handler(conn: socket.socket, head: bytes) -> None:
        time.sleep(0.3)  # a slow server, each hop under the deadline alone
        answer("302 Found", ("Location: /again",), b"")(conn, head)

    server = serve(handler)
    started = time.monotonic()
    with pytest.raises(TransientSourceError, match="within 1 s"):
        fetch(server.url + "/feed.ics", deadline_seconds=1.0, max_redirects=20)
    assert time.monotonic() - started < 1.5
    assert len(server.requests) <= 4


def test_the_ics_source_timeout_is_one_deadline(serve: Callable[..., RawServer]) -> None:
    server = serve(trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nBEGIN:", 0.2))
    feed = IcsSource(
        "team",
        BERLIN,
        CLOCK,
        url=server.url + "/feed.ics",
        timeout=0.8,
        policy=UrlPolicy(allow_private_network=True),
    )
    started = time.monotonic()
    with pytest.raises(TransientSourceError, match=r"^team: 127\.0\.0\.1 gave no complete answer"):
        feed.fetch(None)
    assert time.monotonic() - started < 1.3


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        (tuple(f"X-H{i}: v" for i in range(101)), "got more than 100 headers"),
        (
            ("X-Big: " + "a" * 70_000,),
            "malformed HTTP answer: (got more than 65536 bytes|headers over 65536)",
        ),
        (
            tuple(f"X-M{i}: " + "m" * 1000 for i in range(80)),  # 80 KB in 80 lines
            f"malformed HTTP answer: headers over {MAX_HEADER_BYTES} bytes",
        ),
    ],
)
def test_oversized_headers_are_a_source_error(
    serve: Callable[..., RawServer], headers: tuple[str, ...], match: str
) -> None:
    server = serve(answer(headers=headers))
    with pytest.raises(SourceError, match=match) as caught:
        fetch(server.url + "/feed.ics")
    short_and_clean(caught.value)


def test_headers_under_the_limits_are_fine(serve: Callable[..., RawServer]) -> None:
    server = serve(answer(headers=tuple(f"X-H{i}: " + "v" * 500 for i in range(95))))
    assert fetch(server.url + "/feed.ics").body == FEED


@pytest.mark.parametrize("framing", ["Content-Length", "close", "chunked", "HTTP/1.0"])
def test_large_bodies_arrive_whole_in_every_framing(
    serve: Callable[..., RawServer], framing: str
) -> None:
    body = bytes(range(256)) * 1200  # 300 KB, many reads

    def handler(conn: socket.socket, head: bytes) -> None:
        if framing == "Content-Length":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        elif framing == "close":
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
        elif framing == "HTTP/1.0":
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(body), 10_000):
                piece = body[i : i + 10_000]
                conn.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            conn.sendall(b"0\r\n\r\n")

    server = serve(handler)
    assert fetch(server.url + "/feed.ics").body == body


def broken(kind: str) -> Handler:
    def handler(conn: socket.socket, head: bytes) -> None:
        if kind == "close":
            return
        if kind == "status":
            conn.sendall(b"SMTP ready \x1b[31m" + b"x" * 5000 + b"\r\n\r\n")
        elif kind == "truncated":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1500\r\n\r\nBEGIN:VCAL")
        elif kind == "announced":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n")
        elif kind == "unannounced":
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 3000)
        elif kind == "chunked":
            chunk = b"x" * 1500
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            conn.sendall((b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 2 + b"0\r\n\r\n")
        elif kind == "bad-chunk":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        elif kind == "continue-flood":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" * 5000)
        elif kind == "reason":
            conn.sendall(b"HTTP/1.1 404 \x1b]0;pwned\x07" + b"r" * 3000 + b"\r\n\r\n")

    return handler


@pytest.mark.parametrize(
    ("kind", "error", "match"),
    [
        ("close", TransientSourceError, "closed the connection without an answer"),
        ("status", SourceError, "malformed HTTP answer"),
        ("truncated", TransientSourceError, "closed the connection in the middle"),
        ("announced", SourceError, "announces 99999999 bytes, over the 2000-byte cap"),
        ("unannounced", SourceError, "over the 2000-byte cap"),
        ("chunked", SourceError, "over the 2000-byte cap"),
        ("bad-chunk", TransientSourceError, "in the middle of the answer"),
        ("continue-flood", SourceError, "malformed HTTP answer: headers over 65536 bytes"),
    ],
)
def test_broken_answers_are_short_source_errors(
    serve: Callable[..., RawServer], kind: str, error: type[SourceError], match: str
) -> None:
    server = serve(broken(kind))
    with pytest.raises(error, match=match) as caught:
        fetch(server.url + "/feed.ics", max_bytes=2000)
    short_and_clean(caught.value)
    assert "\x1b" not in str(caught.value)


def test_a_hostile_reason_phrase_is_quoted_and_statuses_classified(
    serve: Callable[..., RawServer],
) -> None:
    server = serve(broken("reason"))
    response = fetch(server.url + "/feed.ics")
    assert response.status == 404
    assert "\x1b" not in response.reason
    assert "\x07" not in response.reason
    assert len(response.reason) < 200
    feed = IcsSource(
        "team", BERLIN, CLOCK, url=server.url, policy=UrlPolicy(allow_private_network=True)
    )
    with pytest.raises(SourceError, match=r"^team: HTTP 404 from the feed$") as caught:
        feed.fetch(None)
    assert not isinstance(caught.value, TransientSourceError)
    for status, transient in (("503 Busy", True), ("429 Slow Down", True), ("410 Gone", False)):
        server.handler = answer(status, (), b"")
        with pytest.raises(SourceError, match=f"HTTP {status[:3]}") as caught:
            feed.fetch(None)
        assert isinstance(caught.value, TransientSourceError) is transient


def test_a_closed_port_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientSourceError, match=r"cannot connect to 127\.0\.0\.1") as caught:
        fetch(f"http://127.0.0.1:{port}/feed.ics")
    short_and_clean(caught.value)


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a server certificate for ``calendar.test``."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calsync test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now.replace(year=now.year - 1))
        .not_valid_after(now.replace(year=now.year + 1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calendar.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now.replace(year=now.year - 1))
        .not_valid_after(now.replace(year=now.year + 1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("calendar.test")]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("pki")
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "cert.pem").write_bytes(cert.public_bytes(pem))
    (folder / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Pki(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")


def test_https_to_the_vetted_address_keeps_sni_and_the_certificate_check(
    network: Network, serve: Callable[..., RawServer], pki: Pki
) -> None:
    server_names: list[str | None] = []
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(pki.cert, pki.key)

    def record_name(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        server_names.append(name)

    server_tls.sni_callback = record_name
    server = serve(answer(), tls=server_tls)
    network.answer("calendar.test", ["127.0.0.1"])
    network.answer("impostor.test", ["127.0.0.1"])
    client_tls = ssl.create_default_context(cafile=str(pki.ca))
    policy = UrlPolicy(allow_private_network=True)
    response = fetch(f"https://calendar.test:{server.port}/f.ics", policy, tls_context=client_tls)
    assert response.body == FEED
    assert server_names == ["calendar.test"]
    assert network.connects == [("127.0.0.1", server.port)]
    assert host_of(server.requests[0]) == f"calendar.test:{server.port}"
    # The same server under a name its certificate does not carry: refused.
    with pytest.raises(
        SourceError, match=r"TLS certificate of impostor\.test is refused"
    ) as caught:
        fetch(f"https://impostor.test:{server.port}/f.ics", policy, tls_context=client_tls)
    assert not isinstance(caught.value, TransientSourceError)
    short_and_clean(caught.value)
    assert server_names == ["calendar.test", "impostor.test"]
    # And the system's CAs do not know the test CA.
    with pytest.raises(SourceError, match="certificate"):
        fetch(f"https://calendar.test:{server.port}/f.ics", policy)


def test_a_tls_handshake_that_never_completes_is_stopped_at_the_deadline(
    serve: Callable[..., RawServer],
) -> None:
    server = serve(answer())  # speaks plain HTTP: it waits for a request, never a ServerHello
    started = time.monotonic()
    with pytest.raises(TransientSourceError, match="no complete answer within 1 s"):
        fetch(f"https://127.0.0.1:{server.port}/feed.ics", deadline_seconds=1.0)
    assert time.monotonic() - started < 1.5


# --------------------------------------------------------------------------- files


@pytest.fixture
def specials(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "feed.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.ics"
    link.symlink_to("/dev/zero")
    folder = tmp_path / "folder.ics"
    folder.mkdir()
    return {
        "/dev/zero": Path("/dev/zero"),
        "/dev/urandom": Path("/dev/urandom"),
        "a FIFO": fifo,
        "a directory": folder,
        "a link to /dev/zero": link,
    }


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("/dev/zero", "a character device"),
        ("/dev/urandom", "a character device"),
        ("a FIFO", "a FIFO"),
        ("a directory", "a directory"),
        ("a link to /dev/zero", "a character device"),
    ],
)
def test_a_file_source_reads_regular_files_only(
    specials: dict[str, Path], name: str, kind: str
) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError, match=f"is {kind}, not a regular file") as caught:
        IcsSource("file", BERLIN, CLOCK, path=specials[name]).fetch(None)
    assert time.monotonic() - started < 1  # a FIFO nobody writes to does not block the open
    short_and_clean(caught.value)


def test_a_file_source_has_the_size_cap_and_missing_files_fail(tmp_path: Path) -> None:
    big = tmp_path / "big.ics"
    big.write_bytes(FEED + b"X-PAD:" + b"p" * 5000 + b"\r\n")
    with pytest.raises(SourceError, match="over the 2000-byte cap"):
        IcsSource("file", BERLIN, CLOCK, path=big, max_bytes=2000).fetch(None)
    with pytest.raises(SourceError, match=r"cannot read .*missing\.ics: No such file"):
        IcsSource("file", BERLIN, CLOCK, path=tmp_path / "missing.ics").fetch(None)
    small = tmp_path / "small.ics"
    small.write_bytes(FEED)
    assert [e.uid for e in IcsSource("file", BERLIN, CLOCK, path=small).fetch(None).events] == [
        "one"
    ]


def test_config_check_refuses_special_files_with_their_key(
    tmp_path: Path, specials: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.ics"
    good.write_bytes(FEED)
    paths = [good, tmp_path / "not-yet.ics", *specials.values()]
    config = tmp_path / "config.toml"
    config.write_text(
        "".join(
            f'[[sources]]\ntype = "ics"\nname = "s{i}"\npath = "{path}"\n\n'
            for i, path in enumerate(paths)
        ),
        encoding="utf-8",
    )
    assert main(["config", "check", str(config)]) == 3
    err = capsys.readouterr().err
    assert "5 problem(s)" in err
    assert "sources[2].path: /dev/zero is a character device, not a regular file" in err
    assert "sources[3].path: /dev/urandom is a character device" in err
    assert f"sources[4].path: {specials['a FIFO']} is a FIFO" in err
    assert f"sources[5].path: {specials['a directory']} is a directory" in err
    assert f"sources[6].path: {specials['a link to /dev/zero']} is a character device" in err
    assert "sources[0]" not in err
    assert "sources[1]" not in err
