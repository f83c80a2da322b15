"""systemd integration: the sd_notify client against real sockets, and the unit files.

The :class:`~calsync.notify.Notifier` tests bind a real ``AF_UNIX`` datagram
socket (a file in ``tmp_path``, and one abstract socket) and read what
arrives. The unit tests read ``systemd/*.service`` as text, then run
``systemd-analyze verify`` / ``security`` on them when the tool is installed
(skipped otherwise). ``verify`` refuses a unit whose ``ExecStart=`` binary does
not exist, and the units name install locations (``~/.local/bin/calsync``,
``/opt/calsync/venv/bin/calsync``), so each unit is copied to ``tmp_path``
with ``ExecStart=`` rewritten to an executable that exists here (this venv's
``calsync``, else ``/bin/true``). ``verify`` reports unknown keys only as
warnings with exit code 0, so any output on stderr fails the test.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from calsync.notify import Notifier

SYSTEMD_DIR = Path(__file__).resolve().parent.parent / "systemd"
USER_UNIT = SYSTEMD_DIR / "calsync.service"
SYSTEM_UNIT = SYSTEMD_DIR / "calsync-system.service"

#: Longest AF_UNIX path (sun_path is 108 bytes on Linux, NUL included).
_MAX_SOCKET_PATH = 107


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket in ``tmp_path`` and its path, as systemd would offer it."""
    path = str(tmp_path / "notify.sock")
    if len(path) > _MAX_SOCKET_PATH:
        pytest.skip(f"tmp_path too long for an AF_UNIX socket path: {path}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    try:
        yield sock, path
    finally:
        sock.close()


def received(sock: socket.socket) -> str:
    """The next datagram (waits at most the socket's timeout)."""
    return sock.recv(4096).decode("utf-8")


def assert_nothing_received(sock: socket.socket) -> None:
    """No datagram is queued on ``sock``."""
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


# --------------------------------------------------------------------------- Notifier


def test_ready_status_watchdog_and_stopping_arrive_as_datagrams(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.enabled

    assert notifier.ready() is True
    assert received(sock) == "READY=1"
    assert notifier.ready("started; first poll running") is True
    assert received(sock) == "READY=1\nSTATUS=started; first poll running"
    assert notifier.status("3 sources, 2 blocks written") is True
    assert received(sock) == "STATUS=3 sources, 2 blocks written"
    assert notifier.watchdog() is True
    assert received(sock) == "WATCHDOG=1"
    assert notifier.stopping() is True
    assert received(sock) == "STOPPING=1"


def test_reloading_carries_the_monotonic_clock(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.reloading() is True
    lines = received(sock).split("\n")
    assert lines[0] == "RELOADING=1"
    key, value = lines[1].split("=")
    assert key == "MONOTONIC_USEC"
    assert int(value) > 0


def test_status_text_is_kept_on_one_line(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    notifier.status("reload refused:\nline 3: bad key\r\n\n  READY=1 ")
    message = received(sock)
    assert message == "STATUS=reload refused: line 3: bad key READY=1"
    assert "\n" not in message  # a status can never smuggle in another assignment
    notifier.ready("one\ntwo")
    assert received(sock) == "READY=1\nSTATUS=one two"


def test_non_ascii_status_is_sent_as_utf8(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    Notifier.from_env({"NOTIFY_SOCKET": path}).status("⧗ Deep Coding: Do 10:00–12:00")
    assert received(sock) == "STATUS=⧗ Deep Coding: Do 10:00–12:00"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux-only")
def test_an_abstract_socket_is_named_with_a_leading_at() -> None:
    name = f"calsync-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.enabled
        assert notifier.ready("up") is True
        assert received(sock) == "READY=1\nSTATUS=up"
        assert notifier.watchdog() is True
        assert received(sock) == "WATCHDOG=1"
    finally:
        sock.close()


def test_without_notify_socket_every_call_is_a_no_op(
    listener: tuple[socket.socket, str],
) -> None:
    sock, _path = listener
    notifier = Notifier.from_env({"WATCHDOG_USEC": "600000000", "WATCHDOG_PID": str(os.getpid())})
    assert not notifier.enabled
    assert notifier.ready("up") is False
    assert notifier.status("x") is False
    assert notifier.watchdog() is False
    assert notifier.reloading() is False
    assert notifier.stopping() is False
    assert notifier.watchdog_interval() is None
    assert_nothing_received(sock)


def test_the_default_environment_is_os_environ(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    notifier = Notifier.from_env()
    assert notifier.watchdog_interval() == 1.0
    notifier.ready()
    assert received(sock) == "READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not Notifier.from_env().enabled


@pytest.mark.parametrize("value", ["", "relative/notify.sock", "@", "vsock:2:1234"])
def test_an_unusable_address_disables_notifications(value: str) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_interval() is None


def test_the_constructor_only_reads_what_it_is_given(tmp_path: Path) -> None:
    environ = {"NOTIFY_SOCKET": str(tmp_path / "nowhere.sock")}
    before = dict(environ)
    notifier = Notifier.from_env(environ)
    assert environ == before  # nothing unset or added
    assert notifier.enabled  # enabled, though nothing listens: no I/O happened yet
    assert Notifier().enabled is False


# --------------------------------------------------------------------------- watchdog interval


@pytest.mark.parametrize(
    ("usec", "seconds"),
    [("600000000", 300.0), ("10000000", 5.0), ("1000000", 0.5), ("1", 0.0000005)],
)
def test_watchdog_interval_is_half_the_timeout_in_seconds(
    tmp_path: Path, usec: str, seconds: float
) -> None:
    env = {"NOTIFY_SOCKET": str(tmp_path / "n.sock"), "WATCHDOG_USEC": usec}
    assert Notifier.from_env(env).watchdog_interval() == pytest.approx(seconds)
    env["WATCHDOG_PID"] = str(os.getpid())
    assert Notifier.from_env(env).watchdog_interval() == pytest.approx(seconds)


def test_a_watchdog_meant_for_another_process_is_not_ours(tmp_path: Path) -> None:
    env = {
        "NOTIFY_SOCKET": str(tmp_path / "n.sock"),
        "WATCHDOG_USEC": "600000000",
        "WATCHDOG_PID": str(os.getpid() + 1),
    }
    notifier = Notifier.from_env(env)
    assert notifier.watchdog_interval() is None
    assert notifier.enabled  # READY/STATUS still go out; only the watchdog is not ours


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"WATCHDOG_USEC": ""},
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "-5"},
        {"WATCHDOG_USEC": "ten minutes"},
    ],
)
def test_no_or_invalid_watchdog_settings_mean_no_interval(
    tmp_path: Path, env: dict[str, str]
) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "n.sock"), **env})
    assert notifier.watchdog_interval() is None


def test_an_unparsable_watchdog_pid_is_ignored_like_an_absent_one(tmp_path: Path) -> None:
    env = {
        "NOTIFY_SOCKET": str(tmp_path / "n.sock"),
        "WATCHDOG_USEC": "1000000",
        "WATCHDOG_PID": "not-a-pid",
    }
    assert Notifier.from_env(env).watchdog_interval() == 0.5


# --------------------------------------------------------------------------- failures never raise


def test_a_missing_socket_file_does_not_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    with caplog.at_level(logging.DEBUG, logger="calsync.notify"):
        assert notifier.ready("up") is False
        assert notifier.watchdog() is False
        assert notifier.stopping() is False
    assert any(r.levelno == logging.DEBUG and "not sent" in r.getMessage() for r in caplog.records)
    assert all(r.levelno <= logging.DEBUG for r in caplog.records)


def test_a_dead_socket_does_not_raise(tmp_path: Path) -> None:
    path = str(tmp_path / "dead.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.close()  # the file stays, nobody listens: ECONNREFUSED
    assert Path(path).exists()
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.ready() is False
    assert notifier.status("still alive") is False
    assert notifier.watchdog() is False


def test_a_path_that_is_not_a_socket_does_not_raise(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_text("not a socket", encoding="utf-8")
    assert Notifier.from_env({"NOTIFY_SOCKET": str(regular)}).watchdog() is False
    too_long = "/" + "x" * 200
    assert Notifier.from_env({"NOTIFY_SOCKET": too_long}).watchdog() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux-only")
def test_an_abstract_socket_nobody_listens_on_does_not_raise() -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": f"@calsync-absent-{uuid.uuid4().hex}"})
    assert notifier.ready() is False


def test_a_full_receive_queue_does_not_block_forever(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import calsync.notify

    sock, path = listener
    monkeypatch.setattr(calsync.notify, "SEND_TIMEOUT_SECONDS", 0.01)
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    sent = 0
    # Fill the listener's queue; once it is full a send fails after the timeout.
    while notifier.watchdog():
        sent += 1
        assert sent < 100_000, "the queue never filled"
    assert sent > 0
    assert received(sock) == "WATCHDOG=1"


# --------------------------------------------------------------------------- unit files


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values…]}}`` of a unit file (keys may repeat, as in systemd)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"{path.name}: keep one setting per line: {raw!r}"
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: setting outside a section: {raw!r}"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict[str, dict[str, list[str]]], key: str, section: str = "Service") -> str:
    """The single value of ``key`` (fails when it is missing or repeated)."""
    values = unit[section].get(key, [])
    assert len(values) == 1, f"{key}= appears {len(values)} times"
    return values[0]


@pytest.fixture(params=[USER_UNIT, SYSTEM_UNIT], ids=["user", "system"])
def unit(request: pytest.FixtureRequest) -> dict[str, dict[str, list[str]]]:
    """Each unit file, parsed."""
    return read_unit(request.param)


def test_both_units_are_notify_services_with_a_watchdog(
    unit: dict[str, dict[str, list[str]]],
) -> None:
    assert one(unit, "Type") == "notify"
    assert one(unit, "NotifyAccess") == "main"
    assert one(unit, "WatchdogSec") == "10min"
    assert one(unit, "Restart") == "on-failure"
    assert one(unit, "RestartSec") == "30"
    assert one(unit, "RestartPreventExitStatus").split() == ["2", "3"]
    assert one(unit, "TimeoutStopSec") == "60"
    assert one(unit, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(unit, "ExecStart").endswith("/calsync run")


def test_both_units_give_calsync_its_directories_and_environment(
    unit: dict[str, dict[str, list[str]]],
) -> None:
    assert one(unit, "StateDirectory") == "calsync"
    assert one(unit, "ConfigurationDirectory") == "calsync"
    assert one(unit, "UMask") == "0077"
    environment = unit["Service"]["Environment"]
    assert "MEM0_TELEMETRY=false" in environment
    assert "PYTHONUNBUFFERED=1" in environment


def test_both_units_are_hardened(unit: dict[str, dict[str, list[str]]]) -> None:
    for key in (
        "NoNewPrivileges",
        "LockPersonality",
        "RestrictSUIDSGID",
        "RestrictRealtime",
        "RestrictNamespaces",
        "MemoryDenyWriteExecute",
        "PrivateUsers",
        "PrivateTmp",
    ):
        assert one(unit, key) == "yes", key
    assert one(unit, "ProtectSystem") == "strict"
    assert one(unit, "SystemCallArchitectures") == "native"
    assert unit["Service"]["SystemCallFilter"] == ["@system-service", "~@privileged"]
    assert one(unit, "RestrictAddressFamilies").split() == ["AF_UNIX", "AF_INET", "AF_INET6"]


def test_the_user_unit() -> None:
    unit = read_unit(USER_UNIT)
    assert one(unit, "ExecStart") == "%h/.local/bin/calsync run"
    assert one(unit, "ProtectHome") == "read-only"
    assert one(unit, "WantedBy", "Install") == "default.target"
    # A user manager cannot switch users, and has no network-online.target.
    assert "User" not in unit["Service"]
    assert "After" not in unit["Unit"]


def test_the_system_unit() -> None:
    unit = read_unit(SYSTEM_UNIT)
    assert one(unit, "ExecStart") == "/opt/calsync/venv/bin/calsync run"
    assert one(unit, "User") == "calsync"
    assert one(unit, "Group") == "calsync"
    assert one(unit, "StateDirectoryMode") == "0700"
    assert one(unit, "ProtectHome") == "yes"
    for key in (
        "PrivateDevices",
        "PrivateMounts",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "RemoveIPC",
    ):
        assert one(unit, key) == "yes", key
    assert one(unit, "ProtectProc") == "invisible"
    assert one(unit, "CapabilityBoundingSet") == ""
    assert one(unit, "AmbientCapabilities") == ""
    assert one(unit, "WantedBy", "Install") == "multi-user.target"
    assert one(unit, "After", "Unit") == "network-online.target"
    assert one(unit, "Wants", "Unit") == "network-online.target"


# --------------------------------------------------------------------------- systemd-analyze

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed"
)


def existing_executable() -> str:
    """An executable that exists here, to stand in for the unit's ``calsync``."""
    calsync = Path(sys.executable).with_name("calsync")
    if calsync.is_file() and os.access(calsync, os.X_OK):
        return str(calsync)
    true = shutil.which("true")
    assert true, "neither this venv's calsync nor true(1) found"
    return true


def verifiable_copy(unit: Path, directory: Path) -> Path:
    """``unit`` copied into ``directory`` with ``ExecStart=`` naming an existing program.

    ``ExecReload=/bin/kill`` is kept, unless this machine has no ``/bin/kill``.
    """
    text = unit.read_text(encoding="utf-8")
    text, count = re.subn(
        r"^ExecStart=\S+", f"ExecStart={existing_executable()}", text, flags=re.MULTILINE
    )
    assert count == 1
    if not Path("/bin/kill").exists():
        text = re.sub(
            r"^ExecReload=/bin/kill",
            f"ExecReload={shutil.which('kill') or '/bin/true'}",
            text,
            flags=re.MULTILINE,
        )
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / unit.name
    copy.write_text(text, encoding="utf-8")
    return copy


def run_analyze(args: list[str], tmp_path: Path, user: bool) -> subprocess.CompletedProcess[str]:
    """Run systemd-analyze (``--user`` with a private XDG_RUNTIME_DIR) without a pager."""
    assert SYSTEMD_ANALYZE is not None
    env = {**os.environ, "SYSTEMD_PAGER": "cat", "SYSTEMD_COLORS": "0", "LC_ALL": "C.UTF-8"}
    if user:
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        args = ["--user", *args]
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@needs_systemd_analyze
@pytest.mark.parametrize(
    ("unit_path", "user"), [(USER_UNIT, True), (SYSTEM_UNIT, False)], ids=["user", "system"]
)
def test_systemd_analyze_verify_is_silent(unit_path: Path, user: bool, tmp_path: Path) -> None:
    copy = verifiable_copy(unit_path, tmp_path / "units")
    result = run_analyze(["verify", "--man=no", str(copy)], tmp_path, user)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # unknown keys are only warnings: fail on them


@needs_systemd_analyze
def test_systemd_analyze_verify_catches_a_misspelt_key(tmp_path: Path) -> None:
    """The check above would notice a mistake: a wrong key is reported on stderr."""
    copy = verifiable_copy(SYSTEM_UNIT, tmp_path / "units")
    copy.write_text(
        copy.read_text(encoding="utf-8").replace("UMask=0077", "UMask=0077\nUMaks=0077"),
        encoding="utf-8",
    )
    result = run_analyze(["verify", "--man=no", str(copy)], tmp_path, user=False)
    assert "UMaks" in result.stderr


@needs_systemd_analyze
def test_the_system_unit_is_rated_ok_by_systemd_analyze_security(tmp_path: Path) -> None:
    copy = verifiable_copy(SYSTEM_UNIT, tmp_path / "units")
    result = run_analyze(["security", "--offline=true", "--no-pager", str(copy)], tmp_path, False)
    if result.returncode != 0 and "offline" in result.stderr:
        pytest.skip(f"this systemd-analyze has no --offline: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert match, result.stdout[-500:]
    assert float(match.group(1)) <= 2.0, match.group(0)
    assert match.group(2) == "OK"
