"""A loopback server speaking the Google Calendar v3 JSON wire format.

Enough of the API for calsync, driven through the real google-api-python-client:
``events.list`` (timeMin/timeMax, pageToken, syncToken with 410 for an expired
token), ``events.insert`` (client-chosen ids, 409 on duplicates), ``get``,
``patch``, ``update``, ``delete``, and an OAuth token endpoint (refresh and
authorization-code grants, or ``invalid_grant``). Failures can be queued, and
every request is recorded.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


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
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ test controls

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
        if self.token_error:
            return 400, {"error": self.token_error, "error_description": "Token has been revoked."}
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
