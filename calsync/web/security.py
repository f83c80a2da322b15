"""Safe by default: loopback only without a token, an access token otherwise, CSRF on POSTs.

* Bound to a loopback address (127.0.0.1, ::1, localhost) the view needs no
  token, but the ``Host`` header must name that address (a page on another
  site cannot reach it through DNS rebinding).
* Bound to any other address every request but ``/healthz`` needs the access
  token: ``Authorization: Bearer TOKEN``, or ``?token=TOKEN`` once (it is then
  kept in an ``HttpOnly``, ``SameSite=Strict`` cookie). The token is generated
  on first use into ``web-token`` in the state directory, mode 0600.
* Every POST carries a CSRF token (a hidden form field, an HMAC of a secret
  made when the app starts) and, when the browser sends one, an ``Origin``
  of the page's own host.
* Every answer says ``Content-Security-Policy: default-src 'self'`` (no
  third-party requests, no inline script or style), ``nosniff``, no framing,
  referrer only to itself (so form posts carry their Origin), no caching.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from pathlib import Path

from calsync.errors import CalsyncError
from calsync.secrets import UnsafeSecretError, read_private_file, write_private_file

logger = logging.getLogger(__name__)

TOKEN_FILE = "web-token"  # noqa: S105 - a file name, not a secret
TOKEN_COOKIE = "calsync_token"  # noqa: S105 - a cookie name
CSRF_FIELD = "csrf"

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class WebError(CalsyncError):
    """The web view cannot start (its token, its address)."""

    exit_code = 9


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback name or address."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def access_token(state_dir: Path) -> str:
    """The access token in ``web-token`` (made on first use, mode 0600).

    Raises:
        WebError: the file exists but is unsafe (open to others) or unreadable.

    """
    path = state_dir / TOKEN_FILE
    if not path.exists():
        write_private_file(path, secrets.token_urlsafe(32) + "\n")
        logger.info("generated the web view's access token in %s", path)
    try:
        token = read_private_file(path, max_bytes=4096).decode("ascii").strip()
    except (UnsafeSecretError, UnicodeDecodeError) as err:
        raise WebError(f"cannot use the web view's access token {path}: {err}") from err
    if len(token) < 16:
        raise WebError(f"the access token in {path} is too short (delete the file to renew it)")
    return token


def same(a: str | None, b: str) -> bool:
    """Constant-time comparison of a presented secret with the expected one."""
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Csrf:
    """CSRF tokens: an HMAC of a secret made when the app starts."""

    def __init__(self, secret: bytes | None = None):
        self._secret = secret or secrets.token_bytes(32)
        self.token = hmac.new(self._secret, b"calsync-csrf", hashlib.sha256).hexdigest()

    def valid(self, presented: str | None) -> bool:
        """Whether a form's token is this app's."""
        return same(presented, self.token)
