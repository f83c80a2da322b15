"""The web view without a browser: security, approval mode, /metrics against the store.

The pages in a real browser are in ``test_web_browser.py``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from calsync import cyclelog
from calsync.approval import approve, decline, proposals
from calsync.cli import main
from calsync.clock import FixedClock
from calsync.config import Config, parse_config
from calsync.daemon import Daemon
from calsync.errors import InputError
from calsync.reconcile import Create
from calsync.sample import write_sample_calendar
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.targets.memory import MemoryTarget
from calsync.web.app import WebState, create_app
from calsync.web.security import TOKEN_FILE, WebError, is_loopback
from calsync.writeback import run_cycle

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 23, 7, tzinfo=BERLIN)
LOCAL = "http://127.0.0.1:8765"


def config_for(tmp_path: Path, approval: str = "manual", **extra: Any) -> Config:
    data: dict[str, Any] = {
        "state_dir": str(tmp_path / "state"),
        "user": {"timezone": "Europe/Berlin"},
        "planning": {"approval": approval},
        "task_types": [
            {
                "name": "Deep Coding",
                "keywords": ["coding"],
                "block_minutes": 60,
                "weekly_target": {"sessions": 3},
                "max_per_day": 1,
            },
            {
                "name": "Email",
                "keywords": ["email"],
                "block_minutes": 30,
                "weekly_target": {"sessions": 2},
                "max_per_day": 1,
            },
        ],
    }
    data.update(extra)
    return parse_config(data)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


@pytest.fixture
def cs(tmp_path: Path, clock: FixedClock) -> Iterator[Calsync]:
    instance = open_calsync(
        config_for(tmp_path), store_url=f"sqlite:///{tmp_path / 'c.db'}", clock=clock
    )
    for day in range(1, 15):
        instance.record_completion("Deep Coding", MONDAY + timedelta(days=-day, hours=2), 0.9)
    yield instance
    instance.close()


@pytest.fixture
def target() -> MemoryTarget:
    return MemoryTarget("mem")


def client_for(cs: Calsync, target: MemoryTarget, host: str = "127.0.0.1") -> TestClient:
    state = WebState(cs, host, 8765, [target])
    return TestClient(create_app(state), base_url=f"http://{host}:8765")


def csrf(client: TestClient) -> str:
    token: str = client.app.state.web.csrf.token  # type: ignore[attr-defined]
    return token


# ---------------------------------------------------------------------- safe by default


def test_loopback_needs_no_token_but_the_host_must_be_loopback(
    cs: Calsync, target: MemoryTarget
) -> None:
    client = client_for(cs, target)
    assert client.get("/week").status_code == 200
    rebound = client.get("/week", headers={"host": "attacker.example:8765"})
    assert rebound.status_code == 421
    assert not (cs.config.resolved_state_dir() / TOKEN_FILE).exists()
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("192.0.2.1")


def test_any_other_address_needs_the_token_from_a_0600_file(
    cs: Calsync, target: MemoryTarget
) -> None:
    client = client_for(cs, target, host="192.0.2.10")
    path = cs.config.resolved_state_dir() / TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    assert len(token) >= 32
    for page in ("/week", "/plan", "/notes", "/health", "/metrics", "/static/style.css"):
        assert client.get(page).status_code == 401, page
    assert client.get("/healthz").status_code == 200
    assert client.get("/week?token=wrong").status_code == 401
    assert client.get("/metrics", headers={"authorization": f"Bearer {token}"}).status_code == 200
    opened = client.get(f"/week?token={token}&task=Email", follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == "/week?task=Email"
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert client.get("/week").status_code == 200  # the cookie carries it now
    # The same token is used again, not renewed.
    again = WebState(cs, "192.0.2.10", 8765, [target])
    assert again.token == token


def test_an_unsafe_token_file_is_refused(cs: Calsync, target: MemoryTarget) -> None:
    path = cs.config.resolved_state_dir() / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x" * 40)
    os.chmod(path, 0o644)
    with pytest.raises(WebError, match="access token"):
        WebState(cs, "0.0.0.0", 8765, [target])  # noqa: S104 - what is being refused


def test_posts_need_the_csrf_token_and_their_own_origin(cs: Calsync, target: MemoryTarget) -> None:
    client = client_for(cs, target)
    assert client.post("/notes", data={"text": "hello"}).status_code == 403
    assert client.post("/notes", data={"text": "hello", "csrf": "nope"}).status_code == 403
    foreign = client.post(
        "/notes",
        data={"text": "hello", "csrf": csrf(client)},
        headers={"origin": "http://attacker.example"},
    )
    assert foreign.status_code == 403
    with cs.store.read() as tx:
        assert tx.insights(cs.config.user.id) == []
    ok = client.post(
        "/notes",
        data={"text": "hello", "csrf": csrf(client)},
        headers={"origin": LOCAL},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    huge = client.post("/notes", data={"text": "x" * 70_000, "csrf": csrf(client)})
    assert huge.status_code == 413


def test_every_answer_forbids_third_party_requests(cs: Calsync, target: MemoryTarget) -> None:
    client = client_for(cs, target)
    for page in (
        "/week",
        "/plan",
        "/notes",
        "/health",
        "/metrics",
        "/healthz",
        "/nope",
        "/static/style.css",
    ):
        response = client.get(page)
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        assert response.headers["x-content-type-options"] == "nosniff"
    html = client.get("/week").text + client.get("/health").text
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    assert "<script" not in html
    assert "style=" not in html


def test_calendar_and_note_text_is_escaped_and_control_characters_shown(
    cs: Calsync, target: MemoryTarget
) -> None:
    client = client_for(cs, target)
    note = "<script>alert(1)</script> \x1b[2J \u202eevil"
    client.post("/notes", data={"text": note, "csrf": csrf(client)})
    page = client.get("/notes").text
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page
    assert "\u202e" not in page
    assert "\\x1b[2J" in page
    assert "\\u202e" in page


# ---------------------------------------------------------------------- approval mode


def test_approval_mode_writes_nothing_new_until_a_block_is_approved(
    cs: Calsync, target: MemoryTarget
) -> None:
    report = run_cycle(cs, target)
    assert target.writes == 0
    assert report.actions == []
    ids = [b.id for b in report.proposed if b.id is not None]
    assert len(ids) == 5
    assert [p.id for p in proposals(cs)] == ids
    assert [b.id for b in run_cycle(cs, target).proposed] == ids  # stable ids, nothing written
    assert target.writes == 0

    assert approve(cs, target, [ids[0]]) == 1
    assert [e.suggestion_id for e in target.list_owned()] == [ids[0]]
    with pytest.raises(InputError):
        approve(cs, target, [ids[0]])  # no longer an open proposal
    later = run_cycle(cs, target)
    assert not [a for a in later.actions if isinstance(a, Create)]
    assert ids[0] not in [b.id for b in later.proposed]
    assert {b.id: b.reason for b in later.plan}[ids[0]] == "user"  # never moved by calsync


def test_a_declined_proposal_teaches_like_a_deleted_block(
    cs: Calsync, target: MemoryTarget
) -> None:
    first = run_cycle(cs, target).proposed
    coding = next(b for b in first if b.task_type == "Deep Coding")
    assert coding.id is not None
    before = cs.habit("Deep Coding").count
    assert decline(cs, target.name, [coding.id]) == 1
    with cs.store.read() as tx:
        skip = tx.find_update(f"suggestion:{coding.id}:skip")
    assert skip is not None
    assert skip.success == 0.0
    assert cs.habit("Deep Coding").count == before + 1
    again = run_cycle(cs, target).proposed
    assert coding.start not in [b.start for b in again if b.task_type == "Deep Coding"]
    # It counts toward its week like a deleted block: one fewer Deep Coding proposal.
    assert len([b for b in again if b.task_type == "Deep Coding"]) == 2


def test_approve_all_and_the_automatic_default(
    tmp_path: Path, cs: Calsync, target: MemoryTarget, clock: FixedClock
) -> None:
    run_cycle(cs, target)
    assert approve(cs, target) == 5
    assert len(target.list_owned()) == 5
    assert proposals(cs) == []
    auto = open_calsync(
        config_for(tmp_path / "auto", approval="automatic"),
        store_url=f"sqlite:///{tmp_path / 'auto.db'}",
        clock=clock,
    )
    try:
        other = MemoryTarget("other")
        assert run_cycle(auto, other).proposed == []
        assert len(other.list_owned()) > 0
    finally:
        auto.close()


def test_the_plan_page_approves_and_declines(cs: Calsync, target: MemoryTarget) -> None:
    run_cycle(cs, target)
    client = client_for(cs, target)
    page = client.get("/plan").text
    assert page.count('class="proposal"') == 5
    first, second, *_ = [p.id for p in proposals(cs)]
    done = client.post("/plan/approve", data={"csrf": csrf(client), "target": "mem", "id": first})
    assert "approved and wrote 1 block(s)" in done.text
    assert len(target.list_owned()) == 1
    client.post("/plan/decline", data={"csrf": csrf(client), "target": "mem", "id": second})
    assert second not in [p.id for p in proposals(cs)]
    gone = client.post("/plan/approve", data={"csrf": csrf(client), "target": "mem", "id": second})
    assert "approve failed" in gone.text
    assert client.post("/plan/other", data={"csrf": csrf(client)}).status_code == 404


def test_the_plan_page_says_why_a_task_type_is_short(
    tmp_path: Path, clock: FixedClock, target: MemoryTarget
) -> None:
    mornings = [{"days": ["weekdays"], "start": "09:00", "end": "12:00"}]
    config = config_for(
        tmp_path,
        approval="automatic",
        planning={"max_suggested_minutes_per_day": 60},
        task_types=[
            {
                "name": name,
                "keywords": [name.lower()],
                "block_minutes": 60,
                "weekly_target": {"sessions": 5},
                "max_per_day": 1,
                "windows": mornings,
            }
            for name in ("Coding", "Writing")
        ],
    )
    with open_calsync(config, store_url=f"sqlite:///{tmp_path / 's.db'}", clock=clock) as short:
        page = client_for(short, target).get("/plan").text
    assert "Fewer blocks than the target" in page
    # Five days of 60 suggested minutes: the first task type takes them all, and the
    # page gives the planner's own reason (the words `calsync plan` prints).
    assert page.count('data-reason="day_cap"') == 1
    assert "planning.max_suggested_minutes_per_day (60) is used up" in page


def test_a_friday_evening_first_run_says_no_share_is_left_not_target_reached(
    tmp_path: Path, target: MemoryTarget
) -> None:
    from calsync.ingest import sync_all
    from calsync.sources.factory import build_sources

    friday = datetime(2026, 12, 4, 19, tzinfo=BERLIN)  # week of Mon 30 Nov
    sessions = "".join(
        f"BEGIN:VEVENT\r\nUID:e{n}\r\nDTSTAMP:20261130T000000Z\r\n"
        f"DTSTART;TZID=Europe/Berlin:202612{n:02d}T100000\r\n"
        f"DTEND;TZID=Europe/Berlin:202612{n:02d}T103000\r\nSUMMARY:Email\r\nEND:VEVENT\r\n"
        for n in (1, 2, 3)
    )
    feed = tmp_path / "own.ics"
    feed.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n"
        "BEGIN:VEVENT\r\nUID:e0\r\nDTSTAMP:20261130T000000Z\r\n"
        "DTSTART;TZID=Europe/Berlin:20261130T100000\r\n"
        "DTEND;TZID=Europe/Berlin:20261130T103000\r\nSUMMARY:Email\r\nEND:VEVENT\r\n"
        + sessions
        + "END:VCALENDAR\r\n",
        encoding="utf-8",
    )
    config = config_for(
        tmp_path,
        approval="automatic",
        task_types=[
            {
                "name": "Email",
                "keywords": ["email"],
                "block_minutes": 30,
                "weekly_target": {"sessions": 5},
                "windows": [{"days": ["weekdays"], "start": "09:00", "end": "17:00"}],
            }
        ],
        sources=[{"type": "ics", "name": "own", "path": str(feed), "days_back": 30}],
    )
    clock = FixedClock(friday)
    with open_calsync(config, store_url=f"sqlite:///{tmp_path / 'f.db'}", clock=clock) as first:
        assert all(r.ok for r in sync_all(first, build_sources(config, clock)))
        report = run_cycle(first, target, dry_run=True)
        (this_week,) = [s for s in report.shortfalls if s.week == friday.date() - timedelta(4)]
        page = client_for(first, target).get("/plan").text
    assert this_week.reason == "no_share"
    line = this_week.text()  # what `calsync plan` prints after "why not: "
    assert line.startswith("Email, week of Mon 30 Nov: 0 planned, 4 of 5 counted")
    assert "(this week's share: 0)" in line
    assert "no window time of it is left in this week" in line
    assert "target reached" not in line
    assert "4 of 0" not in line
    # The Plan page shows the same row and words, and does not claim the target is reached.
    assert 'data-reason="no_share"' in page
    assert "Every task type reaches its target" not in page
    assert "4 of 5 counted (this week&#39;s share: 0)" in page


# ---------------------------------------------------------------------- week and why


def test_the_week_page_shows_blocks_and_a_why(cs: Calsync, target: MemoryTarget) -> None:
    run_cycle(cs, target)
    client = client_for(cs, target)
    page = client.get("/week", params={"task": "deep coding"}).text
    assert page.count('class="cell"') == 168
    assert page.count('data-kind="proposed"') == 5
    key = proposals(cs)[0].id
    why = client.get("/week", params={"why": key}).text
    assert 'id="why"' in why
    assert 'action="/plan/approve"' in why  # a proposal can be approved from its why
    assert "score now" in why
    assert client.get("/week", params={"task": "energy"}).status_code == 200
    assert client.get("/week", params={"week": "not a date"}).status_code == 400
    assert client.get("/week", params={"week": "2026-11-18"}).status_code == 200


def test_the_why_names_the_evidence_and_the_notes(cs: Calsync, target: MemoryTarget) -> None:
    from calsync.web import views

    cs.apply_adjustments(
        [
            {
                "day_pattern": "weekdays",
                "hour_range": list(range(8, 12)),
                "modifier": 1.2,
                "reason": "Tuesday mornings are my sweet spot",
            }
        ],
        "Deep Coding",
    )
    run_cycle(cs, target)
    week = views.week(cs, "Deep Coding")
    block = next(b for b in week.blocks if b.task_type == "Deep Coding")
    why = views.why(cs, block)
    assert why.completions == 14
    assert sum(e.count for e in why.evidence) > 0
    assert any("sweet spot" in line for line in why.adjustments)
    assert 0 <= why.score <= 1


# ---------------------------------------------------------------------- metrics


def test_metrics_match_the_store_after_a_scripted_cycle(tmp_path: Path, clock: FixedClock) -> None:
    from tests.test_daemon import Recorder

    state = tmp_path / "state"
    sample = write_sample_calendar(tmp_path / "sample.ics", clock.now(), BERLIN)
    config = config_for(
        tmp_path,
        approval="automatic",
        sources=[{"type": "ics", "name": "sample", "path": str(sample), "days_back": 60}],
    )
    daemon = Daemon(config, None, clock=clock, notifier=Recorder())
    with daemon:
        summary = daemon.cycle(force=True)
        assert daemon.cs is not None
        cs = daemon.cs
        with cs.store.write() as tx:
            tx.add_llm_run(
                started_at=clock.now(),
                duration_ms=5.0,
                users_synced=1,
                adjustments_applied=2,
                llm_calls=3,
                prompt_tokens=400,
                completion_tokens=50,
                cost=0.25,
                errors=None,
            )
        client = TestClient(create_app(WebState(cs)), base_url=LOCAL)
        response = client.get("/metrics")
        with cs.store.read() as tx:
            rows = tx.suggestions(config.user.id)
        progress = cs.progress()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    value = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert families["calsync_cycles"].type == "counter"
    assert value[("calsync_cycles_total", ())] == 1.0
    assert families["calsync_cycle_duration_seconds"].type == "histogram"
    assert value[("calsync_cycle_duration_seconds_count", ())] == 1.0
    assert value[("calsync_cycle_duration_seconds_bucket", (("le", "+Inf"),))] == 1.0
    assert value[("calsync_source_polls_total", (("source", "sample"),))] == 1.0
    assert value[("calsync_source_failures_total", (("source", "sample"),))] == 0.0
    assert value[("calsync_source_backoff_seconds", (("source", "sample"),))] == 0.0
    active = [r for r in rows if r.status == "active"]
    assert active
    assert len(active) == summary.writeback[0].written
    assert value[("calsync_blocks_written_total", (("action", "created"),))] == len(active)
    assert value[("calsync_suggestions", (("status", "active"),))] == len(active)
    assert value[("calsync_completions", ())] == progress.total_completions > 0
    assert value[("calsync_interpreter_calls_total", ())] == 3.0
    assert value[("calsync_interpreter_tokens_total", (("kind", "prompt"),))] == 400.0
    assert value[("calsync_interpreter_cost_total", ())] == 0.25
    assert value[("calsync_outcomes_learned_total", (("outcome", "skip"),))] == 0.0
    assert not [n for n in families if n.endswith("_created") or n.startswith("process_")]
    recorded = cyclelog.read(state)
    assert recorded["recent"][0]["sources"] == [{"source": "sample", "ok": True, "learned": 0}] or (
        recorded["recent"][0]["sources"][0]["source"] == "sample"
    )


def test_outcomes_and_acceptance_are_counted_from_the_store(
    cs: Calsync, target: MemoryTarget, clock: FixedClock
) -> None:
    from calsync.web import views

    config = cs.config.model_copy(
        update={"planning": cs.config.planning.model_copy(update={"approval": "automatic"})}
    )
    auto = Calsync(config, cs.store, clock)
    run_cycle(auto, target)
    owned = sorted(target.list_owned(), key=lambda e: e.start)
    target.user_delete(owned[0].remote_id)  # the user deletes one before it starts
    moved = owned[1]
    target.user_move(
        moved.remote_id, moved.start + timedelta(hours=1), moved.end + timedelta(hours=1)
    )
    run_cycle(auto, target)
    clock.advance(timedelta(days=7))
    run_cycle(auto, target)
    data = views.health(auto)
    assert data.outcomes.skip >= 1
    assert data.outcomes.moved == 1
    assert data.outcomes.done >= 1
    week = data.acceptance[0]
    assert week.declined >= 1
    assert week.moved == 1
    assert week.kept >= 1
    assert week.rate == week.kept / week.decided
    metrics = client_for(auto, target).get("/metrics").text
    assert f'calsync_outcomes_learned_total{{outcome="moved"}} {float(data.outcomes.moved)}' in (
        metrics
    )


def test_metrics_count_the_blocks_apply_wrote_and_no_ratio_before_a_decision(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from calsync.config import load_config

    path = tmp_path / "config.toml"
    path.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[user]\ntimezone = "Europe/Berlin"\n'
        '[[task_types]]\nname = "Deep Coding"\nkeywords = ["coding"]\nblock_minutes = 60\n'
        "weekly_target = { sessions = 3 }\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "calsync", "--config", str(path), "apply"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "state" / "suggestions.ics").read_text(encoding="utf-8")
    with open_calsync(load_config(path)) as cs:
        text = TestClient(create_app(WebState(cs)), base_url=LOCAL).get("/metrics").text
    value = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    created = value[("calsync_blocks_written_total", (("action", "created"),))]
    assert created == written.count("BEGIN:VEVENT") > 0
    assert value[("calsync_cycles_total", ())] == 0.0  # an apply is not a service cycle
    assert "calsync_acceptance_ratio" not in text  # nothing decided yet: no ratio, not 0


# ---------------------------------------------------------------------- command line


def test_the_web_command_is_there(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["web", "--help"])
    out = capsys.readouterr().out
    assert "--host" in out
    assert "--port" in out


def test_a_cycle_that_planned_before_an_approval_does_not_undo_it(
    cs: Calsync, target: MemoryTarget
) -> None:
    from calsync.approval import hold_for_approval
    from calsync.writeback import block_content

    run_cycle(cs, target)
    stale = run_cycle(cs, target, dry_run=True)  # planned while the user approves
    first = stale.proposed[0]
    assert first.id is not None
    assert approve(cs, target, [first.id]) == 1
    creates: list[Any] = [
        Create(block_content(cs, b, b.id, 0, None)) for b in stale.proposed if b.id is not None
    ]
    hold_for_approval(cs, target.name, stale.plan, creates, dry_run=False)
    with cs.store.read() as tx:
        (row,) = [r for r in tx.suggestions(cs.config.user.id) if r.id == first.id]
    assert row.status == "active"
    assert run_cycle(cs, target).actions == []  # nothing removed, nothing re-created


def test_calsync_web_serves_the_configured_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import calsync.web

    served: list[tuple[str, int]] = []
    monkeypatch.setattr(
        calsync.web, "serve", lambda cs, host, port, **_kw: served.append((host, port))
    )
    path = tmp_path / "config.toml"
    path.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[user]\ntimezone = "Europe/Berlin"\n'
        "[web]\nport = 9999\n",
        encoding="utf-8",
    )
    assert main(["--config", str(path), "web"]) == 0
    assert main(["--config", str(path), "web", "--host", "192.0.2.7", "--port", "1234"]) == 0
    assert served == [("127.0.0.1", 9999), ("192.0.2.7", 1234)]
    out = capsys.readouterr().out
    assert "is not loopback" in out
    assert str(tmp_path / "state" / TOKEN_FILE) in out


def test_calsync_run_serves_the_web_view_when_enabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import calsync.web

    events: list[str] = []

    class Fake:
        def stop(self) -> None:
            events.append("stopped")

    def fake_start(cs: Calsync, host: str, port: int) -> Fake:
        events.append(f"started {host}:{port}")
        return Fake()

    monkeypatch.setattr(calsync.web, "start_in_thread", fake_start)

    def fake_run_forever(self: Daemon) -> int:
        events.append("service")
        return 0

    monkeypatch.setattr(Daemon, "run_forever", fake_run_forever)
    path = tmp_path / "config.toml"
    path.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[user]\ntimezone = "Europe/Berlin"\n'
        "[web]\nenabled = true\nport = 8799\n",
        encoding="utf-8",
    )
    assert main(["--config", str(path), "run"]) == 0
    assert events == ["started 127.0.0.1:8799", "service", "stopped"]


def without_modules(tmp_path: Path, *names: str) -> dict[str, str]:
    """An environment whose Python cannot import ``names``, as if they were not installed."""
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(
        f"import sys\nfor name in {list(names)!r}:\n    sys.modules[name] = None\n",
        encoding="utf-8",
    )
    return {**os.environ, "PYTHONPATH": str(shim)}


@pytest.mark.parametrize("missing", ["uvicorn", "starlette", "jinja2"])
@pytest.mark.parametrize("command", ["web", "run"])
def test_without_the_web_extra_the_web_view_says_how_to_install_it(
    tmp_path: Path, missing: str, command: str
) -> None:
    import subprocess
    import sys

    path = tmp_path / "config.toml"
    path.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[user]\ntimezone = "Europe/Berlin"\n'
        "[web]\nenabled = true\nport = 8799\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "calsync", "--config", str(path), command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=without_modules(tmp_path, missing),
    )
    assert done.returncode == 2, done.stderr
    assert "needs calsync[web]: pip install 'calsync[web]'" in done.stderr
    assert missing in done.stderr
    assert "Traceback" not in done.stderr
    assert "web view on" not in done.stdout
    assert not (tmp_path / "state" / "calsync.lock").exists()  # refused before starting


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_a_port_out_of_range_is_bad_input(tmp_path: Path, port: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "calsync", "web", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout
    assert "--port: must be a port number (1-65535)" in done.stderr
    assert "web view on" not in done.stdout


def test_the_web_view_line_comes_only_once_the_port_listens(tmp_path: Path) -> None:
    import subprocess
    import sys

    from calsync.web import listen

    taken = listen("127.0.0.1", 0)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "calsync", "web", "--port", str(taken.getsockname()[1])],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        taken.close()
    assert done.returncode == 9, done.stderr
    assert "cannot listen on 127.0.0.1" in done.stderr
    assert "web view on" not in done.stdout


def test_an_address_in_use_is_a_web_error(cs: Calsync) -> None:
    from calsync.web import listen

    taken = listen("127.0.0.1", 0)
    try:
        with pytest.raises(WebError, match=r"cannot listen on 127\.0\.0\.1"):
            listen("127.0.0.1", taken.getsockname()[1])
        with pytest.raises(WebError):
            listen("no-such-host.invalid", 8765)
    finally:
        taken.close()


def test_the_cycle_log_keeps_totals_and_the_last_cycles(tmp_path: Path) -> None:
    from calsync.ingest import SourceReport
    from calsync.reconcile import Delete
    from calsync.writeback import CycleReport

    at = MONDAY
    assert cyclelog.read(tmp_path) == cyclelog.empty()
    ok = CycleReport(target="t", dry_run=False, actions=[Delete("a", "r", "x")], written=1)
    failed = CycleReport(target="t", dry_run=False, error="server said \x1b[2J no")
    for n in range(cyclelog.KEEP + 5):
        report = failed if n == 0 else ok
        cyclelog.record(tmp_path, at, 0.2 * n, [SourceReport("s", ok=n != 1)], [report])
    data = cyclelog.read(tmp_path)
    assert data["cycles"] == cyclelog.KEEP + 5
    assert data["failed_cycles"] == 2
    assert len(data["recent"]) == cyclelog.KEEP
    assert data["sources"] == {"s": {"polls": cyclelog.KEEP + 5, "failures": 1}}
    assert data["blocks"]["deleted"] == cyclelog.KEEP + 4
    assert data["buckets"][-1] == cyclelog.KEEP + 5  # cumulative: every cycle <= 300 s
    assert data["buckets"][0] == 1  # only the 0 s one <= 0.1 s
    assert "\x1b" not in data["targets"]["t"]["last_error"]
    path = tmp_path / cyclelog.CYCLES_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("{not json")
    assert cyclelog.read(tmp_path) == cyclelog.empty()


def test_the_health_page_reports_the_same_progress_as_calsync_status(
    cs: Calsync, target: MemoryTarget
) -> None:
    from calsync.web import views

    cs.record_completion("Email", MONDAY - timedelta(days=1, hours=-3), 0.7)
    cs.record_completion("Email", MONDAY - timedelta(days=8, hours=-3), 0.8)
    assert views.learning_progress_of(cs) == cs.progress()
