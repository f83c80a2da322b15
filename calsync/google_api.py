"""Authorized access to the Google Calendar v3 API, shared by the Google source and target.

google-api-python-client is built from its bundled static discovery document
(no network at build time), over a fresh ``httplib2.Http`` per use (it is not
thread-safe). Requests are retried on 429, 5xx, 403 ``rateLimitExceeded`` /
``userRateLimitExceeded`` and connection errors with exponential backoff; the
wait is injectable so tests never sleep. Failures become calsync errors here:
``invalid_grant`` and other refusals an :class:`~calsync.errors.AuthError`
naming ``calsync auth google``, transient ones a
:class:`~calsync.errors.TransientSourceError`. A refreshed access token is
saved back to the token file (mode 0600).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from calsync.errors import AuthError, SourceError, TransientSourceError, network_reason
from calsync.secrets import UnsafeSecretError, read_private_file, write_private_file

logger = logging.getLogger(__name__)

#: The one OAuth scope calsync asks for.
SCOPE = "https://www.googleapis.com/auth/calendar.events"

_RETRY_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded"}


class FullSyncRequired(Exception):
    """A sync token expired (HTTP 410): list everything again."""


class NotFound(Exception):
    """The requested event or calendar does not exist (HTTP 404)."""


def load_credentials(token_file: Path) -> Credentials:
    """Load saved OAuth credentials (refusing a file others can read)."""
    try:
        info = json.loads(read_private_file(token_file))
        # google-auth leaves these two unannotated.
        credentials: Credentials = Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
            info, [SCOPE]
        )
    except UnsafeSecretError as err:
        raise AuthError(
            f"cannot use the Google token: {err} (`calsync auth google` writes it)"
        ) from err
    except (ValueError, OSError) as err:
        raise AuthError(
            f"cannot use the Google token in {token_file}: {err}; run `calsync auth google`"
        ) from err
    # from_authorized_user_info always sets Google's endpoint; keep the saved one.
    if info.get("token_uri"):
        expiry = credentials.expiry
        credentials = credentials.with_token_uri(info["token_uri"])
        credentials.expiry = expiry  # with_token_uri() drops it (google-auth 2.x)
    return credentials


class GoogleApi:
    """One Google account's Calendar API, with retries and token upkeep.

    Args:
        name: Name used in messages (the source or target).
        credentials: OAuth credentials, or ``None`` to load ``token_file`` at first use.
        token_file: Where the token lives; refreshed tokens are saved back.
        api_endpoint: Replacement API base URL (``…/calendar/v3/``), for tests.
        timeout: Socket timeout per request, in seconds.
        retries: Retries of transient failures.
        sleep: How to wait between retries.

    """

    def __init__(
        self,
        name: str,
        credentials: Credentials | None,
        *,
        token_file: Path | None = None,
        api_endpoint: str | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.name = name
        self._credentials = credentials
        self._token_file = token_file
        self._api_endpoint = api_endpoint
        self._timeout = timeout
        self._retries = retries
        self._sleep = sleep

    @contextmanager
    def session(self) -> Iterator[Any]:
        """A Calendar service for a batch of calls; a refreshed token is saved afterwards."""
        if self._credentials is None:
            assert self._token_file is not None, "credentials or a token file are needed"
            self._credentials = load_credentials(self._token_file)
        before = self._credentials.token
        http = google_auth_httplib2.AuthorizedHttp(
            self._credentials, http=httplib2.Http(timeout=self._timeout)
        )
        options = {"api_endpoint": self._api_endpoint} if self._api_endpoint else None
        service = build(
            "calendar",
            "v3",
            http=http,
            static_discovery=True,
            cache_discovery=False,
            client_options=options,
        )
        try:
            yield service
        finally:
            service.close()  # httplib2 leaves its sockets open otherwise
            if self._token_file and self._credentials.token != before:
                try:
                    # Through a symlink onto its target; a target open to others is refused.
                    token = self._credentials.to_json()  # type: ignore[no-untyped-call]
                    write_private_file(self._token_file, token)
                except UnsafeSecretError as err:
                    # The refreshed token stays in memory for this run; the file is left alone.
                    logger.warning("did not save the refreshed Google token: %s", err)

    def execute(self, request: Any) -> dict[str, Any]:
        """Run one API request with retries, translating every failure.

        Raises:
            FullSyncRequired: HTTP 410 (an expired sync token, or a deleted event).
            NotFound: HTTP 404.
            AuthError: the authorization is refused or revoked.
            TransientSourceError: retries ran out, or the quota is used up.
            SourceError: any other refusal.

        """
        attempt = 0
        while True:
            try:
                return request.execute(num_retries=0) or {}
            except HttpError as err:
                status = err.status_code
                reasons = {
                    d.get("reason") for d in (err.error_details or []) if isinstance(d, dict)
                }
                if status == 410:
                    raise FullSyncRequired from err
                if status == 404:
                    raise NotFound(str(err.reason)) from err
                retryable = (
                    status == 429 or status >= 500 or (status == 403 and reasons & _RETRY_REASONS)
                )
                if not retryable or attempt >= self._retries:
                    if status == 403 and reasons & _QUOTA_REASONS:
                        raise TransientSourceError(
                            f"{self.name}: the Google API quota is used up; trying again later"
                        ) from err
                    if status in (401, 403) and not retryable:
                        raise AuthError(
                            f"{self.name}: Google refused access (HTTP {status}); "
                            "run `calsync auth google`"
                        ) from err
                    if retryable:
                        raise TransientSourceError(
                            f"{self.name}: Google answered HTTP {status} after {attempt} retries"
                        ) from err
                    raise SourceError(
                        f"{self.name}: Google answered HTTP {status}: {err.reason}"
                    ) from err
            except RefreshError as err:
                raise AuthError(
                    f"{self.name}: Google no longer accepts calsync's authorization ({err}); "
                    "run `calsync auth google` to authorize again"
                ) from err
            except (TransportError, httplib2.HttpLib2Error, OSError) as err:
                if attempt >= self._retries:
                    raise TransientSourceError(
                        f"{self.name}: cannot reach Google: {network_reason(err)}"
                    ) from err
            delay = min(60.0, 2.0**attempt)
            logger.info(
                "%s: transient Google error, retry %d in %.0f s", self.name, attempt + 1, delay
            )
            self._sleep(delay)
            attempt += 1

    def pages(self, service: Any, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every page of an ``events.list`` call, following ``nextPageToken``."""
        page_token: str | None = None
        while True:
            page_params = dict(params, pageToken=page_token) if page_token else params
            page = self.execute(service.events().list(**page_params))
            yield page
            page_token = page.get("nextPageToken")
            if not page_token:
                return
