"""The systemd notification protocol (``sd_notify``) for ``Type=notify`` units.

A service started with ``Type=notify`` finds the address of systemd's
notification socket in ``$NOTIFY_SOCKET`` and sends it newline-separated
``KEY=VALUE`` assignments, one message per datagram:

* ``READY=1`` once start-up is complete (systemd waits for it);
* ``STATUS=...`` a one-line, human-readable state shown by ``systemctl status``;
* ``WATCHDOG=1`` a keep-alive, due every ``$WATCHDOG_USEC / 2`` microseconds
  when the unit sets ``WatchdogSec=`` (``$WATCHDOG_PID``, when set, names the
  process the watchdog is meant for);
* ``RELOADING=1`` / ``STOPPING=1`` while reloading or shutting down.

An address that starts with ``@`` is an abstract socket (the ``@`` stands for
a NUL byte). Outside systemd there is no ``$NOTIFY_SOCKET`` and every call is
a no-op, so the daemon uses one code path everywhere. Sending never raises: a
missing or dead socket is logged at DEBUG and reported as ``False``, and a
datagram the manager is too busy to take is dropped after a short timeout
instead of blocking the daemon. Pure standard library.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

logger = logging.getLogger(__name__)

#: Longest a single notification may block when the manager's queue is full.
SEND_TIMEOUT_SECONDS = 2.0


def _one_line(text: str) -> str:
    """``text`` on one line: CR, LF and NUL become spaces, runs of them collapse."""
    for char in "\r\n\0":
        text = text.replace(char, " ")
    return " ".join(text.split())


def _parse_address(raw: str | None) -> bytes | None:
    """The socket address of ``$NOTIFY_SOCKET``, or ``None`` when unusable.

    Like ``sd_notify``, only absolute paths and abstract names (``@name``) are
    accepted.
    """
    if not raw:
        return None
    if raw.startswith("@"):
        if len(raw) < 2:
            logger.warning("NOTIFY_SOCKET=%r names no socket: systemd notifications are off", raw)
            return None
        return b"\0" + os.fsencode(raw[1:])
    if raw.startswith("/"):
        return os.fsencode(raw)
    logger.warning(
        "NOTIFY_SOCKET=%r is neither an absolute path nor an abstract socket (@name): "
        "systemd notifications are off",
        raw,
    )
    return None


def _parse_positive_int(name: str, raw: str | None) -> int | None:
    """``raw`` as a positive integer, ``None`` (with a DEBUG log) when absent or invalid."""
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        logger.debug("ignoring %s=%r: not an integer", name, raw)
        return None
    if value <= 0:
        logger.debug("ignoring %s=%r: not positive", name, raw)
        return None
    return value


class Notifier:
    """Sends ``sd_notify`` messages to systemd; a silent no-op without a socket.

    Build it with :meth:`from_env`. Every sending method returns ``True`` when
    the datagram was handed to the socket and ``False`` otherwise (disabled,
    socket missing, manager gone…); none of them raises. Thread-safe: each
    message uses its own short-lived socket.
    """

    def __init__(
        self,
        address: bytes | None = None,
        watchdog_usec: int | None = None,
        watchdog_pid: int | None = None,
    ):
        """Create a notifier.

        Args:
            address: The notification socket: a file system path, or an
                abstract name starting with a NUL byte. ``None`` disables it.
            watchdog_usec: The watchdog timeout in microseconds
                (``$WATCHDOG_USEC``), ``None`` when there is no watchdog.
            watchdog_pid: The process the watchdog is meant for
                (``$WATCHDOG_PID``), ``None`` for "whoever holds the socket".

        """
        self._address = address
        self._watchdog_usec = watchdog_usec
        self._watchdog_pid = watchdog_pid

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """The notifier systemd asked for in ``environ`` (``os.environ`` by default).

        Reads ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` and
        nothing else; the environment is left unchanged.
        """
        address = _parse_address(environ.get("NOTIFY_SOCKET"))
        usec = _parse_positive_int("WATCHDOG_USEC", environ.get("WATCHDOG_USEC"))
        pid = _parse_positive_int("WATCHDOG_PID", environ.get("WATCHDOG_PID"))
        return cls(address, usec, pid)

    @property
    def enabled(self) -> bool:
        """Whether there is a notification socket to talk to."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between two :meth:`watchdog` pings: half of ``WatchdogSec=``.

        ``None`` when notifications are off, no watchdog is configured, or the
        watchdog is meant for another process (``$WATCHDOG_PID`` is not ours,
        e.g. in a child that inherited the environment).
        """
        if not self.enabled or self._watchdog_usec is None:
            return None
        if self._watchdog_pid is not None and self._watchdog_pid != os.getpid():
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up (or a reload) is complete, optionally with a status line."""
        fields = ["READY=1"]
        if status is not None:
            fields.append(f"STATUS={_one_line(status)}")
        return self.notify(*fields)

    def status(self, text: str) -> bool:
        """Set the status line ``systemctl status`` shows (newlines become spaces)."""
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        """Ping the watchdog: the service is alive and its main loop is turning."""
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        """Tell systemd a reload (e.g. on SIGHUP) began; finish it with :meth:`ready`."""
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def stopping(self) -> bool:
        """Tell systemd the service is shutting down."""
        return self.notify("STOPPING=1")

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` assignments as one datagram; ``False`` when not delivered."""
        if self._address is None:
            return False
        message = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.settimeout(SEND_TIMEOUT_SECONDS)
                sock.sendto(message, self._address)
        except OSError as err:
            logger.debug("systemd notification %r not sent to %r: %s", fields, self._address, err)
            return False
        return True
