"""One bounded HTTP(S) GET that connects only where the address check said.

:func:`fetch_url` is how calsync reads a feed from a URL it did not write
itself (an ICS subscription). It guards against a hostile or broken server
and against server-side request forgery:

* **Resolve once, vet, connect to the vetted address.** The host name is
  resolved once per hop; every address it answers is checked
  (:func:`address_problem`: loopback, RFC 1918, link-local, CGNAT, multicast,
  reserved, unspecified, ULA, documentation and benchmark ranges, Teredo,
  local-use NAT64, and the IPv4-mapped, 6to4 and NAT64 forms of a private
  IPv4 address); one refused address refuses the host. The TCP connection
  then goes to a vetted address — never to a second resolution, so DNS
  rebinding cannot move it — while the ``Host`` header, the TLS server name
  (SNI) and the certificate check use the host name. With
  ``allow_private_network`` every address is allowed, and the connection
  still goes to the address resolved.
* **Every redirect hop** (at most ``max_redirects``) is checked the same way;
  only ``http`` and ``https`` are followed.
* **One deadline for the whole fetch** — connecting, the TLS handshake, the
  request, the headers and the body of every hop: a server trickling a byte
  at a time is cut off at ``deadline_seconds`` in total (each socket wait
  gets only what is left). Name resolution is bounded by the system
  resolver's own timeouts.
* **Bounded answers**: at most 100 header lines (http.client's limit), each
  at most 64 KiB, at most :data:`MAX_HEADER_BYTES` for the whole header
  section; a body over ``max_bytes`` is refused (it is read ``max_bytes + 1``
  bytes at most).
* **Every failure is a** :class:`~calsync.errors.SourceError` with a short
  message (a :class:`~calsync.errors.TransientSourceError` when a retry may
  help: timeouts, refused connections, resets); foreign text in it (reason
  phrases, header values, ``Location`` URLs) goes through
  :func:`calsync.text.quote`.

Proxies from the environment (``http_proxy`` …) are not used: a proxy would
resolve the name itself and defeat the address check.
"""

from __future__ import annotations

import errno
import functools
import http.client
import io
import ipaddress
import logging
import os
import select
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import calsync.shutdown as shutdown
from calsync.errors import SourceCancelledError, SourceError, TransientSourceError
from calsync.text import quote

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "DEFAULT_MAX_REDIRECTS",
    "MAX_HEADER_BYTES",
    "AddressCheck",
    "Resolver",
    "Response",
    "UrlPolicy",
    "VettedUrl",
    "address_problem",
    "fetch_url",
    "is_public_address",
    "resolve_host",
]

logger = logging.getLogger(__name__)

#: Largest header section (status line and headers) read from one answer.
MAX_HEADER_BYTES = 64 * 1024
#: Redirects followed by :func:`fetch_url` unless told otherwise.
DEFAULT_MAX_REDIRECTS = 5

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_BODY_CHUNK = 64 * 1024

#: Answers the addresses a host name resolves to (injectable for tests).
Resolver = Callable[[str], list[str]]
#: Says why an address may not be fetched from, or ``None`` when it may.
AddressCheck = Callable[[str], str | None]


def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, without repeats.

    Raises:
        TransientSourceError: the name cannot be resolved (now).

    """
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise TransientSourceError(f"cannot resolve {quote(host)}: {quote(err)}") from err
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# --------------------------------------------------------------------------- addresses

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

#: IPv4 ranges no feed is fetched from (first match names the reason).
_IPV4_REFUSED: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "this-network / unspecified"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved / broadcast"),
)

_MAPPED = _V6("::ffff:0:0/96")
_NAT64 = _V6("64:ff9b::/96")
_SIXTOFOUR = _V6("2002::/16")

#: IPv6 ranges no feed is fetched from (after the embedded-IPv4 forms above).
_IPV6_REFUSED: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64"),
    (_V6("::/8"), "reserved (IPv4-compatible, IPv4-translated)"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/32"), "Teredo"),
    (_V6("2001:2::/48"), "benchmarking"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("2001::/23"), "IETF protocol assignments"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("5f00::/16"), "segment routing"),
    (_V6("fc00::/7"), "unique local"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)


def _ipv4_problem(ip: ipaddress.IPv4Address) -> str | None:
    for network, reason in _IPV4_REFUSED:
        if ip in network:
            return reason
    return None if ip.is_global else "not globally reachable"


def address_problem(address: str) -> str | None:
    """Why a feed may not be fetched from ``address``, or ``None`` for a public address.

    IPv4-mapped (``::ffff:0:0/96``), NAT64 (``64:ff9b::/96``) and 6to4
    (``2002::/16``) addresses are judged by the IPv4 address they carry;
    anything the standard library does not consider global is refused too.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_problem(ip)
    for network, form, embedded in (
        (_MAPPED, "IPv4-mapped", ip.ipv4_mapped),
        (_NAT64, "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)),
        (_SIXTOFOUR, "6to4", ip.sixtofour),
    ):
        if ip in network and embedded is not None:
            inner = _ipv4_problem(embedded)
            return None if inner is None else f"{form} form of {embedded}, {inner}"
    for network6, reason in _IPV6_REFUSED:
        if ip in network6:
            return reason
    return None if ip.is_global else "not globally reachable"


def is_public_address(address: str) -> bool:
    """True when ``address`` is a public unicast address (see :func:`address_problem`)."""
    return address_problem(address) is None


def _connect_form(address: str) -> str:
    """The address to connect to: an IPv4-mapped IPv6 address as plain IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError as err:
        raise SourceError(f"the resolver answered {quote(address, 60)}, not an address") from err
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return address


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class VettedUrl:
    """A URL whose host was resolved and whose every address passed the check.

    Attributes:
        url: The URL as given.
        scheme: ``http`` or ``https``.
        host: The host name (for ``Host``, SNI and the certificate check).
        port: The port (80 / 443 when the URL names none).
        target: The request target: path and query.
        addresses: The vetted addresses, in the resolver's order; the
            connection goes to one of these and nowhere else.

    """

    url: str
    scheme: str
    host: str
    port: int
    target: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class UrlPolicy:
    """Which URLs a source may fetch, and how their host names are resolved.

    Attributes:
        allow_private_network: Allow every address (loopback, private …).
        resolver: Name → addresses (injectable for tests).
        address_check: Address → why it is refused, or ``None``
            (injectable for tests; :func:`address_problem` by default).

    """

    allow_private_network: bool = False
    resolver: Resolver = resolve_host
    address_check: AddressCheck = address_problem

    def vet(self, url: str) -> VettedUrl:
        """Check the scheme, resolve the host once and check every address.

        Raises:
            SourceError: the URL may not be fetched.
            TransientSourceError: the host name cannot be resolved.

        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise SourceError(
                f"only http and https URLs are allowed, not '{quote(parts.scheme or 'none', 40)}'"
            )
        host = parts.hostname
        if not host:
            raise SourceError("the URL has no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as err:
            raise SourceError(f"the URL of {quote(host, 100)} has an invalid port") from err
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        addresses = self.resolver(host)
        if not addresses:
            raise TransientSourceError(f"{quote(host, 100)} resolves to no address")
        if not self.allow_private_network:
            for address in addresses:
                problem = self.address_check(address)
                if problem is not None:
                    raise SourceError(
                        f"{quote(host, 100)} resolves to the non-public address "
                        f"{quote(address, 60)} ({problem}); set allow_private_network = true "
                        "for this source to allow it"
                    )
        vetted = tuple(dict.fromkeys(_connect_form(a) for a in addresses))
        return VettedUrl(url, scheme, host, port, target, vetted)

    def check(self, url: str) -> None:
        """Raise :class:`SourceError` when ``url`` may not be fetched (see :meth:`vet`)."""
        self.vet(url)


# --------------------------------------------------------------------------- connection


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the fetch deadline passed")
    return left


class _CancelledError(Exception):
    """calsync is stopping (:mod:`calsync.shutdown`): the fetch gives up at once."""


def _wait(sock: socket.socket, deadline: float, *, write: bool = False) -> None:
    """Wait until ``sock`` is readable (or writable), the deadline or a shutdown.

    The wait is cut into slices of :data:`calsync.shutdown.POLL_SECONDS`, so a
    server that trickles a byte now and then never keeps ``calsync run`` from
    answering SIGTERM.
    """
    if not write and isinstance(sock, ssl.SSLSocket) and sock.pending():
        return  # TLS bytes already decrypted: no wait
    poller = select.poll()
    poller.register(sock, select.POLLOUT if write else select.POLLIN)
    while True:
        if shutdown.requested():
            raise _CancelledError
        slice_ = min(_remaining(deadline), shutdown.POLL_SECONDS)
        if poller.poll(slice_ * 1000):
            return


class _HeadersTooLarge(http.client.HTTPException):
    """The header section of an answer is over :data:`MAX_HEADER_BYTES`."""


class _DeadlineReader(io.RawIOBase):
    """A socket's bytes, every wait bounded by what is left of the deadline.

    Reads through ``raw`` (the socket's ``makefile`` stream, which keeps the
    socket open while the response is read, as http.client expects) after
    setting the socket's timeout to what is left. While ``header_limit`` is
    set (until the headers are parsed) no read starts once that many bytes
    came in.
    """

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._deadline = deadline
        self.received = 0
        self.header_limit: int | None = MAX_HEADER_BYTES

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self.header_limit is not None and self.received >= self.header_limit:
            raise _HeadersTooLarge(f"headers over {self.header_limit} bytes")
        _wait(self._sock, self._deadline)
        self._sock.settimeout(_remaining(self._deadline))
        count = self._raw.readinto(buffer) or 0
        self.received += count
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """An HTTP response read through a :class:`_DeadlineReader`."""

    deadline: float = 0.0

    def __init__(
        self,
        sock: socket.socket,
        debuglevel: int = 0,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(sock, debuglevel, method, url)
        # Nothing was read yet: the buffered reader http.client made is replaced
        # by one over the same stream, with the deadline applied to every read.
        self._reader = _DeadlineReader(self.fp.detach(), sock, self.deadline)
        self.fp = io.BufferedReader(self._reader)

    def begin(self) -> None:
        super().begin()
        self._reader.header_limit = None  # the body is bounded by the caller


def _response_class(deadline: float) -> type[http.client.HTTPResponse]:
    class _Response(_DeadlineResponse):
        pass

    _Response.deadline = deadline
    return _Response


def _open_socket(addresses: tuple[str, ...], port: int, deadline: float) -> socket.socket:
    """A TCP connection to the first of ``addresses`` that answers."""
    last: OSError | None = None
    for address in addresses:
        version = ipaddress.ip_address(address.split("%", 1)[0]).version
        sock = socket.socket(socket.AF_INET6 if version == 6 else socket.AF_INET)
        try:
            sock.setblocking(False)
            code = sock.connect_ex((address, port))
            if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                raise OSError(code, os.strerror(code))
            _wait(sock, deadline, write=True)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
            sock.settimeout(_remaining(deadline))
        except (TimeoutError, _CancelledError):
            sock.close()
            raise
        except OSError as err:
            sock.close()
            last = err
            logger.debug("cannot connect to %s port %d: %s", address, port, err)
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last or OSError("no address to connect to")


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a vetted address, named by its host name.

    ``connect()`` opens the socket to one of the vetted addresses (never
    resolving the name again); with a TLS context the socket is wrapped with
    ``server_hostname`` set to the host name, so SNI and the certificate
    check are the host's. ``Host`` comes from the host name as usual.
    """

    def __init__(self, vetted: VettedUrl, deadline: float, tls: ssl.SSLContext | None) -> None:
        super().__init__(vetted.host, vetted.port)
        self.default_port = 443 if tls is not None else 80
        self.response_class = _response_class(deadline)
        self._vetted = vetted
        self._deadline = deadline
        self._tls = tls

    def connect(self) -> None:
        sock = _open_socket(self._vetted.addresses, self.port, self._deadline)
        if self._tls is None:
            self.sock = sock
            return
        try:
            tls = self._tls.wrap_socket(
                sock, server_hostname=self.host, do_handshake_on_connect=False
            )
            tls.setblocking(False)
            while True:  # the handshake, in slices that watch the deadline and a shutdown
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    _wait(tls, self._deadline)
                except ssl.SSLWantWriteError:
                    _wait(tls, self._deadline, write=True)
            tls.settimeout(_remaining(self._deadline))
            self.sock = tls
        except BaseException:
            sock.close()
            raise


@functools.cache
def _default_tls() -> ssl.SSLContext:
    return ssl.create_default_context()


# --------------------------------------------------------------------------- fetching


@dataclass(frozen=True)
class Response:
    """The final answer of :func:`fetch_url`.

    Attributes:
        url: The URL that answered (after redirects).
        status: Its HTTP status.
        reason: Its reason phrase, made safe to show.
        headers: Its headers.
        body: The body for a 2xx answer (at most ``max_bytes``), else empty.

    """

    url: str
    status: int
    reason: str
    headers: Message
    body: bytes


def _read_body(response: http.client.HTTPResponse, max_bytes: int, host: str) -> bytes:
    header = (response.getheader("Content-Length") or "").strip()
    announced = int(header) if header.isdigit() and len(header) < 20 else None
    if announced is not None and announced > max_bytes:
        raise SourceError(f"{host} announces {announced} bytes, over the {max_bytes}-byte cap")
    chunks: list[bytes] = []
    total = 0
    while total <= max_bytes:
        chunk = response.read(min(_BODY_CHUNK, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_bytes:
        raise SourceError(f"the answer of {host} is over the {max_bytes}-byte cap")
    if (
        announced is not None
        and total != announced
        and response.getheader("Transfer-Encoding") is None
    ):
        # http.client returns a short body as if complete; a cut feed must not look whole.
        raise http.client.IncompleteRead(b"", announced - total)
    return b"".join(chunks)


def _get_once(
    vetted: VettedUrl,
    headers: Mapping[str, str],
    max_bytes: int,
    deadline: float,
    tls: ssl.SSLContext | None,
) -> Response:
    connection = _PinnedConnection(vetted, deadline, tls if vetted.scheme == "https" else None)
    try:
        connection.request("GET", vetted.target, headers=dict(headers))
        answer = connection.getresponse()
        ok = 200 <= answer.status < 300
        body = _read_body(answer, max_bytes, quote(vetted.host, 100)) if ok else b""
        return Response(vetted.url, answer.status, quote(answer.reason, 80), answer.msg, body)
    finally:
        connection.close()


def _translate(err: Exception, host: str, deadline_seconds: float) -> SourceError:
    """A short :class:`SourceError` for whatever the connection raised."""
    if isinstance(err, TimeoutError):
        return TransientSourceError(f"{host} gave no complete answer within {deadline_seconds:g} s")
    if isinstance(err, ssl.SSLCertVerificationError):
        why = err.verify_message or err.reason or "verification failed"
        return SourceError(f"the TLS certificate of {host} is refused: {quote(why, 120)}")
    if isinstance(err, ssl.SSLError):
        return TransientSourceError(f"TLS with {host} failed: {quote(err.reason or err, 120)}")
    if isinstance(err, http.client.RemoteDisconnected):
        return TransientSourceError(f"{host} closed the connection without an answer")
    if isinstance(err, http.client.IncompleteRead):
        return TransientSourceError(f"{host} closed the connection in the middle of the answer")
    if isinstance(err, http.client.HTTPException):
        # too many headers, a header line over 64 KiB, a bad status line …
        what = quote(err, 120) or type(err).__name__
        return SourceError(f"{host} sent a malformed HTTP answer: {what}")
    if isinstance(err, OSError):
        return TransientSourceError(f"cannot connect to {host}: {quote(err.strerror or err, 120)}")
    return SourceError(f"cannot fetch from {host}: {quote(err, 120)}")


def fetch_url(
    url: str,
    policy: UrlPolicy,
    *,
    headers: Mapping[str, str] | None = None,
    max_bytes: int,
    deadline_seconds: float,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    tls_context: ssl.SSLContext | None = None,
) -> Response:
    """GET ``url`` within one deadline, connecting only to addresses ``policy`` vetted.

    Redirects (301, 302, 303, 307, 308) are followed up to ``max_redirects``
    times, each hop vetted like the first, with the same ``headers``. The
    final answer is returned whatever its status (a 304, a 404 …); its body
    is read only for a 2xx status.

    Args:
        url: An ``http`` or ``https`` URL.
        policy: Which addresses may be connected to; the resolver.
        headers: Request headers (``Host`` is set from the URL).
        max_bytes: Largest body accepted.
        deadline_seconds: Time for the whole fetch, every hop included.
        max_redirects: Redirects followed at most.
        tls_context: Replaces the default TLS context (certificate and host
            name checks on; for tests with their own CA).

    Raises:
        SourceError: the URL, an address or a redirect is refused, the answer
            is malformed or too large, the certificate is refused.
        TransientSourceError: timeout, refused or reset connection,
            resolution failure.

    """
    deadline = time.monotonic() + deadline_seconds
    tls = tls_context or _default_tls()
    current = url
    for hop in range(max_redirects + 1):
        try:
            vetted = policy.vet(current)
        except SourceError as err:
            if hop == 0:
                raise
            raise type(err)(f"refused the redirect to {quote(current, 200)}: {err}") from err
        host = quote(vetted.host, 100)
        logger.debug("GET %s via %s (hop %d)", host, ", ".join(vetted.addresses), hop)
        try:
            _remaining(deadline)
            response = _get_once(vetted, headers or {}, max_bytes, deadline, tls)
        except SourceError:
            raise
        except _CancelledError as err:
            raise SourceCancelledError(f"stopped reading from {host}: calsync is stopping") from err
        except (OSError, http.client.HTTPException, ValueError) as err:
            raise _translate(err, host, deadline_seconds) from err
        if response.status not in _REDIRECTS:
            return response
        location = response.headers.get("Location")
        if not location:
            raise SourceError(f"{host} answered HTTP {response.status} without a Location")
        current = urljoin(current, location.strip())
    raise SourceError(f"more than {max_redirects} redirects, the last to {quote(current, 200)}")
