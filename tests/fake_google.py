"""A loopback server speaking the Google Calendar v3 JSON wire format.

Enough of the API for calsync, driven through the real google-api-python-client:
``events.list`` (timeMin/timeMax, pageToken, syncToken with 410 for an expired
token), ``events.insert`` (client-chosen ids, 409 on duplicates), ``get``,
``patch``, ``update``, ``delete``, and an OAuth token endpoint (refresh and
authorization-code grants, or ``invalid_grant``). Failures can be queued, and
every request is recorded.

:meth:`FakeGoogle.inject` arms a :class:`Fault` — an HTTP error, a refused
token refresh, a stalled or dropped connection, a truncated, empty, partial
or wrongly typed answer — from the n-th request of a kind (the listing, a
get, an insert, a patch, a delete) on; :data:`FAULT_KINDS` names them all.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

#: Error answers: kind → (HTTP status, reason).
HTTP_FAULTS: dict[str, tuple[int, str]] = {
    "500": (500, "backendError"),
    "502": (502, "badGateway"),
    "503": (503, "backendError"),
    "429": (429, "rateLimitExceeded"),
    "403-rate": (403, "rateLimitExceeded"),
    "403-user-rate": (403, "userRateLimitExceeded"),
    "401": (401, "authError"),
    "404": (404, "notFound"),
    "409": (409, "duplicate"),
    "410": (410, "deleted"),
}
#: Every fault kind :meth:`FakeGoogle.inject` knows.
FAULT_KINDS = (
    *HTTP_FAULTS,
    "invalid_grant",  # 401, and the token refresh that follows answers invalid_grant
    "timeout",  # no answer until the client gives up (nothing done)
    "lost_response",  # done, then the connection drops without an answer
    "truncated",  # done, the JSON answer cut in half
    "garbage",  # done, a 200 with an HTML body
    "wrong_types",  # done, the answer's JSON of the wrong shape and types
    "empty_list",  # listings only: 200 {"items": []}
    "partial_list",  # listings only: half of the items
)
#: The kinds of request a fault can target.
OPERATIONS = ("list", "get", "insert", "patch", "delete")


def operation_of(method: str, path: str) -> str | None:
    """Which kind of Calendar API request this is (``None``: not an events call)."""
    if not path.startswith("/calendar/v3/calendars/"):
        return None
    on_collection = path.rstrip("/").endswith("/events")
    if method == "GET":
        return "list" if on_collection else "get"
    if method == "POST" and on_collection:
        return "insert"
    return {"PATCH": "patch", "PUT": "patch", "DELETE": "delete"}.get(method)


@dataclass
class Fault:
    """A fault armed on one kind of request, from its ``nth`` occurrence on.

    ``times``: how many requests it spoils (``None``: until cleared).
    ``fired`` counts the spoiled ones.
    """

    kind: str
    operation: str
    nth: int = 1
    times: int | None = None
    seen: int = 0
    fired: int = 0

    def applies(self, operation: str | None) -> bool:
        """Count a request; True when this one is to be spoiled."""
        if operation != self.operation:
            return False
        self.seen += 1
        if self.seen < self.nth or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


def _instant(value: dict[str, Any]) -> datetime:
    if "dateTime" in value:
        return datetime.fromisoformat(value["dateTime"])
    return datetime.fromisoformat(value["date"] + "T00:00:00+00:00")


class FakeGoogle:
    """State and HTTP server of the fake API."""

    def __init__(self, page_size: int = 250) -> None:
        self.page_size = page_size
        self.calendars: dict[str, dict[str, dict[str, Any]]] = {"primary": {}}
        self.changed_at: dict[str, dict[str, int]] = {"primary": {}}
        self.seq = 0
        self.expired_tokens: set[str] = set()
        self.failures: list[tuple[int, str]] = []
        self.token_error: str | None = None
        self.issued_tokens = 0
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # Hold the N-th insert until ``release`` is set (``hanging`` tells it happened).
        self.hang_on_insert: int | None = None
        self.hanging = threading.Event()
        self.release = threading.Event()
        self._inserts = 0
        self.faults: list[Fault] = []
        self.stall_seconds = 5.0
        self._stall = threading.Event()
        self._token_error_once: str | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, status: int, payload: Any = None) -> None:
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                if payload is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                body = self._body()
                parts = urlsplit(self.path)
                if parts.path != "/token" and fake._faulted(self, method, parts, body):
                    return
                if method == "POST" and parts.path.endswith("/events"):
                    with fake._lock:
                        fake._inserts += 1
                        hang = fake._inserts == fake.hang_on_insert
                    if hang:
                        fake.hanging.set()
                        fake.release.wait(timeout=30)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with fake._lock:
                    fake.requests.append(
                        {
                            "method": method,
                            "path": parts.path,
                            "query": query,
                            "auth": self.headers.get("Authorization"),
                            "body": body,
                        }
                    )
                    status, payload = fake.route(method, parts.path, query, body)
                self._send(status, payload)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        self._handler_class = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_endpoint = f"{self.base}/calendar/v3/"
        self.token_uri = f"{self.base}/token"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop the server."""
        self.release.set()
        self._stall.set()
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ faults

    def inject(self, kind: str, operation: str, nth: int = 1, times: int | None = None) -> Fault:
        """Arm a fault (see :data:`FAULT_KINDS`, :data:`OPERATIONS`); return it to inspect."""
        assert kind in FAULT_KINDS, kind
        assert operation in OPERATIONS, operation
        fault = Fault(kind, operation, nth, times)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Disarm every fault: the service is healthy again."""
        with self._lock:
            self.faults.clear()
            self._token_error_once = None

    def _faulted(self, handler: Any, method: str, parts: Any, body: bytes) -> bool:
        """Spoil this request if a fault applies; True when the answer was sent (or dropped)."""
        operation = operation_of(method, parts.path)
        with self._lock:
            fault = next((f for f in self.faults if f.applies(operation)), None)
        if fault is None:
            return False
        kind = fault.kind
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": parts.path,
                    "query": {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    "auth": handler.headers.get("Authorization"),
                    "body": body,
                    "fault": kind,
                }
            )
        if kind in HTTP_FAULTS or kind == "invalid_grant":
            status, reason = HTTP_FAULTS.get(kind, (401, "authError"))
            if kind == "invalid_grant":
                with self._lock:
                    self._token_error_once = "invalid_grant"
            handler._send(*self._error(status, reason))
            return True
        if kind == "timeout":
            self._stall.wait(self.stall_seconds)
            handler.close_connection = True
            return True
        if kind == "empty_list":
            handler._send(200, {"kind": "calendar#events", "items": [], "nextSyncToken": "sync-0"})
            return True
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            status, payload = self.route(method, parts.path, query, body)
        if kind == "lost_response":
            handler.close_connection = True  # done, but the answer never leaves
            return True
        if kind == "partial_list" and isinstance(payload, dict):
            items = payload.get("items", [])
            payload = {**payload, "items": items[: len(items) // 2]}
        elif kind == "wrong_types":
            if isinstance(payload, dict) and "items" in payload:
                items = [dict(e, start=12345, id=7) for e in payload["items"]]
                payload = {**payload, "items": items}
            else:
                payload = ["not", "an", "event"]
        if kind in ("truncated", "garbage"):
            data = json.dumps(payload).encode()
            data = data[: len(data) // 2] if kind == "truncated" else b"<html>oops</html>"
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return True
        handler._send(status, payload)
        return True

    # ------------------------------------------------------------------ test controls

    def snapshot(self) -> dict[str, Any]:
        """The calendars' state, to :meth:`restore` into another fake."""
        with self._lock:
            return json.loads(
                json.dumps(
                    {"calendars": self.calendars, "changed_at": self.changed_at, "seq": self.seq}
                )
            )

    def restore(self, state: dict[str, Any]) -> None:
        """Take over the calendars of a :meth:`snapshot`."""
        with self._lock:
            copy = json.loads(json.dumps(state))
            self.calendars, self.changed_at, self.seq = (
                copy["calendars"],
                copy["changed_at"],
                copy["seq"],
            )

    def put(self, calendar: str, event: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an event as if the user edited it in Google Calendar."""
        with self._lock:
            return self._store(calendar, dict(event))

    def remove(self, calendar: str, event_id: str) -> None:
        """Delete an event as if the user did."""
        with self._lock:
            self._delete(calendar, event_id)

    def expire_tokens(self) -> None:
        """Make every sync token issued so far answer 410."""
        with self._lock:
            for seq in range(self.seq + 1):
                self.expired_tokens.add(f"sync-{seq}")

    def api_requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """Recorded calls to the Calendar API (not the token endpoint)."""
        return [
            r
            for r in self.requests
            if r["path"].startswith("/calendar/v3/") and (method is None or r["method"] == method)
        ]

    # ------------------------------------------------------------------ the API

    def _store(self, calendar: str, event: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        event.setdefault("status", "confirmed")
        event["updated"] = f"2026-01-01T00:00:{self.seq % 60:02d}.000Z"
        self.calendars.setdefault(calendar, {})[event["id"]] = event
        self.changed_at.setdefault(calendar, {})[event["id"]] = self.seq
        return event

    def _delete(self, calendar: str, event_id: str) -> bool:
        event = self.calendars.get(calendar, {}).get(event_id)
        if event is None or event.get("status") == "cancelled":
            return False
        self.seq += 1
        self.calendars[calendar][event_id] = {"id": event_id, "status": "cancelled"}
        self.changed_at[calendar][event_id] = self.seq
        return True

    def _error(self, status: int, reason: str, message: str = "") -> tuple[int, Any]:
        return status, {
            "error": {
                "code": status,
                "message": message or reason,
                "errors": [{"domain": "calendar", "reason": reason, "message": message or reason}],
            }
        }

    def route(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        """Answer one request (called with the lock held)."""
        if path == "/token":
            return self._token(body)
        if self.failures:
            status, reason = self.failures.pop(0)
            return self._error(status, reason)
        segments = [unquote(s) for s in path.removeprefix("/calendar/v3/").split("/")]
        if len(segments) < 3 or segments[0] != "calendars" or segments[2] != "events":
            return self._error(404, "notFound", path)
        calendar = segments[1]
        if calendar not in self.calendars:
            return self._error(404, "notFound", f"calendar {calendar}")
        if len(segments) == 3:
            if method == "GET":
                return self._list(calendar, query)
            if method == "POST":
                event = json.loads(body)
                event_id = event.get("id") or uuid.uuid4().hex
                existing = self.calendars[calendar].get(event_id)
                if existing is not None and existing.get("status") != "cancelled":
                    return self._error(409, "duplicate", "The requested identifier already exists.")
                return 200, self._store(calendar, {**event, "id": event_id})
        event_id = segments[3]
        current = self.calendars[calendar].get(event_id)
        if current is None:
            return self._error(404, "notFound", event_id)
        if method == "GET":
            return 200, current
        if current.get("status") == "cancelled":
            return self._error(410, "deleted", event_id)
        if method == "DELETE":
            self._delete(calendar, event_id)
            return 204, None
        if method == "PATCH":
            return 200, self._store(calendar, {**current, **json.loads(body), "id": event_id})
        if method == "PUT":
            return 200, self._store(calendar, {**json.loads(body), "id": event_id})
        return self._error(405, "methodNotAllowed", method)

    def _list(self, calendar: str, query: dict[str, str]) -> tuple[int, Any]:
        events = self.calendars[calendar]
        token = query.get("syncToken")
        if token is not None:
            if token in self.expired_tokens or not token.startswith("sync-"):
                return self._error(410, "fullSyncRequired", "Sync token is no longer valid")
            since = int(token.removeprefix("sync-"))
            items = [events[i] for i, seq in self.changed_at[calendar].items() if seq > since]
        else:
            items = [e for e in events.values() if e.get("status") != "cancelled"]
            if "timeMin" in query:
                low = datetime.fromisoformat(query["timeMin"])
                items = [e for e in items if _instant(e["end"]) > low]
            if "timeMax" in query:
                high = datetime.fromisoformat(query["timeMax"])
                items = [e for e in items if _instant(e["start"]) < high]
            private = query.get("privateExtendedProperty")
            if private:
                key, _, value = private.partition("=")
                items = [
                    e
                    for e in items
                    if (e.get("extendedProperties") or {}).get("private", {}).get(key) == value
                ]
        items.sort(key=lambda e: e["id"])
        offset = int(query.get("pageToken") or 0)
        size = min(self.page_size, int(query.get("maxResults") or 250))
        page: dict[str, Any] = {"kind": "calendar#events", "items": items[offset : offset + size]}
        if offset + size < len(items):
            page["nextPageToken"] = str(offset + size)
        else:
            page["nextSyncToken"] = f"sync-{self.seq}"
        return 200, page

    def _token(self, body: bytes) -> tuple[int, Any]:
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        error, self._token_error_once = self.token_error or self._token_error_once, None
        if error:
            return 400, {"error": error, "error_description": "Token has been revoked."}
        self.issued_tokens += 1
        answer = {
            "access_token": f"access-{self.issued_tokens}",
            "expires_in": 3600,
            "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/calendar.events",
        }
        if form.get("grant_type") == "authorization_code":
            answer["refresh_token"] = "refresh-1"
        return 200, answer
