"""A loopback server speaking the OpenAI chat-completions wire format.

Enough of ``POST /v1/chat/completions`` for calsync's interpreter, driven
through the real ``openai`` client: scripted replies (an answer's content, a
refusal, an HTTP error, or a hang until the server closes), a responder for
everything unscripted, and a record of every request. Usage is counted like
the interpreter estimates it (characters / 4) over the messages and the
response format, unless a reply sets it.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes:
        content: The assistant message's content (status 200).
        status: HTTP status; anything but 200 sends an OpenAI-style error body.
        refusal: A refusal message instead of content.
        finish_reason: The choice's finish reason.
        usage: ``(prompt_tokens, completion_tokens)``; ``None``: counted.
        hang: Hold the response until the server closes (for timeouts).
        body: Raw bytes sent as the whole HTTP body (status 200) instead of a
            chat completion, for answers the client itself must decode.

    """

    content: str | None = None
    status: int = 200
    refusal: str | None = None
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None
    hang: bool = False
    body: bytes | None = None


def answer(adjustments: list[dict[str, Any]], **kwargs: Any) -> Reply:
    """A well-formed answer carrying ``adjustments``."""
    return Reply(content=json.dumps({"adjustments": adjustments}), **kwargs)


#: Turns a recorded request into a reply (used when the script is empty).
Responder = Callable[[dict[str, Any]], Reply]


def count_tokens(body: dict[str, Any]) -> int:
    """The fake's prompt-token count: characters / 4 of the messages and response format."""
    chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    chars += len(json.dumps(body.get("response_format") or {}))
    return math.ceil(chars / 4)


class FakeOpenAI:
    """State and HTTP server of the fake API."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.script: list[Reply] = []
        self.responder: Responder = responder or (lambda _body: answer([]))
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw or b"{}")
                record = {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "raw": raw.decode(),
                    "body": body,
                }
                with fake._lock:
                    fake.requests.append(record)
                    reply = fake.script.pop(0) if fake.script else None
                if reply is None:
                    reply = fake.responder(body)
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if reply.hang:
                    fake.release.wait(timeout=10)
                if reply.body is not None:
                    self._send(200, None, reply.body)
                    return
                self._send(*fake.render(reply, body))

            def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    # Retry at once: the client's default backoff would slow the suite.
                    self.send_header("retry-after-ms", "1")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Release hanging replies and stop the server."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order."""
        with self._lock:
            self.script.extend(replies)

    def render(self, reply: Reply, body: dict[str, Any]) -> tuple[int, Any]:
        """The status and JSON body for ``reply`` to the request ``body``."""
        if reply.status != 200:
            return reply.status, {
                "error": {"message": f"fake error {reply.status}", "type": "server_error"}
            }
        prompt, completion = reply.usage or (
            count_tokens(body),
            math.ceil(len(reply.content or "") / 4),
        )
        return 200, {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply.content,
                        "refusal": reply.refusal,
                    },
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
