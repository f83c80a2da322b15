"""``calsync auth google``: obtain and save an OAuth token for a Google source.

Two flows, both with the single ``calendar.events`` scope:

* desktop: a browser opens Google's consent page and Google redirects to a
  short-lived server on ``localhost`` (google-auth-oauthlib's loopback flow);
* headless (``--headless``): calsync prints the consent URL, you open it on
  any machine, and paste back the ``http://localhost…`` address the browser
  then fails to load; calsync exchanges the code in it for a token.

The token is written atomically as JSON with mode 0600 (through a symlink onto
its target, which must be private).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from google_auth_oauthlib.flow import InstalledAppFlow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from calsync.errors import AuthError
from calsync.google_api import SCOPE
from calsync.secrets import UnsafeSecretError, write_private_file

logger = logging.getLogger(__name__)

#: Where the headless flow tells Google to redirect (nothing needs to listen there).
HEADLESS_REDIRECT = "http://localhost:8085/"


def _save(token_file: Path, token_json: str) -> None:
    """Write the token (through a symlink onto its target); an unsafe target is an AuthError."""
    try:
        write_private_file(token_file, token_json)
    except UnsafeSecretError as err:
        raise AuthError(f"cannot save the Google token: {err}") from err


def _flow(client_secrets_file: Path) -> InstalledAppFlow:
    try:
        return InstalledAppFlow.from_client_secrets_file(str(client_secrets_file), scopes=[SCOPE])
    except (OSError, ValueError) as err:
        raise AuthError(
            f"cannot use the OAuth client secrets in {client_secrets_file}: {err}. Create a "
            "'Desktop app' OAuth client in the Google Cloud console and download its JSON."
        ) from err


def authorize_headless(
    client_secrets_file: Path,
    token_file: Path,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
) -> None:
    """Copy-paste flow for a machine without a browser."""
    flow = _flow(client_secrets_file)
    flow.redirect_uri = HEADLESS_REDIRECT
    url, _state = flow.authorization_url(prompt="consent", access_type="offline")
    say("Open this address in a browser, on any machine, and allow calsync access:")
    say(url)
    say("The browser then fails to load a http://localhost:8085/… page. Copy that whole")
    pasted = ask("address from the address bar and paste it here: ").strip()
    if "code=" not in pasted:
        raise AuthError("that address carries no authorization code; run the command again")
    # oauthlib insists on https for the response URL; the redirect was to localhost.
    if pasted.startswith("http://"):
        pasted = "https://" + pasted.removeprefix("http://")
    try:
        flow.fetch_token(authorization_response=pasted)
    except (OAuth2Error, ValueError) as err:
        raise AuthError(f"Google did not accept the authorization: {err}") from err
    _save(token_file, flow.credentials.to_json())
    logger.info("saved the Google token to %s", token_file)


def authorize_desktop(
    client_secrets_file: Path, token_file: Path, open_browser: bool = True
) -> None:
    """Loopback flow: a browser on this machine, a one-shot server on localhost."""
    flow = _flow(client_secrets_file)
    try:
        credentials = flow.run_local_server(
            port=0, open_browser=open_browser, prompt="consent", access_type="offline"
        )
    except (OAuth2Error, ValueError, OSError) as err:
        raise AuthError(f"the authorization did not complete: {err}") from err
    _save(token_file, credentials.to_json())
    logger.info("saved the Google token to %s", token_file)
