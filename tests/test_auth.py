"""``calsync auth google``: the headless copy-paste flow against a loopback token endpoint."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from calsync.auth import HEADLESS_REDIRECT, authorize_headless
from calsync.cli import main
from calsync.errors import AuthError
from calsync.sources.google import SCOPE, load_credentials

from .fake_google import FakeGoogle


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    # The fake token endpoint is plain http on loopback; oauthlib wants https otherwise.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    fake = FakeGoogle()
    yield fake
    fake.close()


def client_secrets(path: Path, fake: FakeGoogle) -> Path:
    path.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "client-1",
                    "client_secret": "secret-1",
                    "auth_uri": f"{fake.base}/auth",
                    "token_uri": fake.token_uri,
                    "redirect_uris": ["http://localhost"],
                }
            }
        ),
        encoding="utf-8",
    )
    return path


def test_headless_flow_saves_a_private_token(google: FakeGoogle, tmp_path: Path) -> None:
    said: list[str] = []

    def paste(prompt: str) -> str:
        url = next(line for line in said if line.startswith(google.base))
        query = parse_qs(urlsplit(url).query)
        assert query["scope"] == [SCOPE]
        assert query["redirect_uri"] == [HEADLESS_REDIRECT]
        assert query["access_type"] == ["offline"]
        return f"{HEADLESS_REDIRECT}?state={query['state'][0]}&code=the-code&scope={SCOPE}"

    token = tmp_path / "state" / "google-g.json"
    authorize_headless(
        client_secrets(tmp_path / "cs.json", google), token, ask=paste, say=said.append
    )
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    saved = json.loads(token.read_text(encoding="utf-8"))
    assert (saved["token"], saved["refresh_token"]) == ("access-1", "refresh-1")
    exchange = parse_qs(google.requests[-1]["body"].decode())
    assert exchange["grant_type"] == ["authorization_code"]
    assert exchange["code"] == ["the-code"]
    credentials = load_credentials(token)
    assert credentials.refresh_token == "refresh-1"
    assert credentials.token_uri == google.token_uri


def test_a_paste_without_a_code_is_refused(google: FakeGoogle, tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="no authorization code"):
        authorize_headless(
            client_secrets(tmp_path / "cs.json", google),
            tmp_path / "t.json",
            ask=lambda _prompt: "http://localhost:8085/?error=access_denied",
            say=lambda _line: None,
        )
    assert not (tmp_path / "t.json").exists()


def test_missing_client_secrets_are_explained(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="Desktop app"):
        authorize_headless(tmp_path / "missing.json", tmp_path / "t.json", ask=str, say=print)


def test_cli_needs_a_google_source_with_client_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    assert main(["--config", str(config), "auth", "google", "--headless"]) == 3
    assert "no Google source is configured" in capsys.readouterr().err
    config.write_text('[[sources]]\ntype = "google"\nname = "g"\n', encoding="utf-8")
    assert main(["--config", str(config), "auth", "google", "--headless"]) == 3
    assert "sources.g.client_secrets_file: required" in capsys.readouterr().err
