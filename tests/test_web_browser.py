"""The web view in a real browser: Debian's Chromium driven by Playwright.

Never skipped: without ``/usr/bin/chromium`` these tests fail and say how to
install it (``.ci/run`` installs it). Playwright never downloads a browser
here: ``executable_path`` always names the system Chromium. Screenshots are
saved as artefacts under ``tests/artifacts/`` (git-ignored) and the test's
temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from calsync.approval import proposals
from tests.radicale_server import RadicaleServer
from tests.web_helpers import ARTIFACTS, Site, make_site

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "the browser tests need Debian's Chromium: apt-get install -y chromium chromium-driver"
        )
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    server = RadicaleServer(tmp_path / "radicale", {"alice": "secret"})
    made = make_site(tmp_path, server)
    yield made
    made.close()
    server.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    opened = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    offsite: list[str] = []
    opened.on(
        "request",
        lambda r: None if r.url.startswith(site.url) else offsite.append(r.url),
    )
    opened.set_default_timeout(10_000)
    yield opened
    context.close()
    assert dialogs == [], "a script from calendar or note text ran"
    assert offsite == [], f"the page asked someone else: {offsite}"


def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """Save a full-page screenshot as an artefact (and in the test's directory)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    page.screenshot(path=str(tmp_path / name), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def box(locator: Any) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None
    return dict(found)


def test_the_week_draws_the_heatmap_with_the_blocks_on_it_and_opens_a_why(
    page: Page, site: Site, tmp_path: Path
) -> None:
    page.goto(f"{site.url}/week")
    heatmap = page.locator("svg#heatmap")
    expect(heatmap).to_be_visible()
    cells = heatmap.locator("rect.cell")
    expect(cells).to_have_count(168)
    colours = set(cells.evaluate_all("cells => cells.map(c => c.getAttribute('fill'))"))
    assert len(colours) > 5, "the learned week is drawn in shades, not one colour"
    area = box(heatmap)
    blocks = heatmap.locator("a.block")
    kinds = blocks.evaluate_all("bs => bs.map(b => b.dataset.kind)")
    assert "proposed" in kinds
    assert "own" in kinds
    for index in range(blocks.count()):
        rect = box(blocks.nth(index).locator("rect"))
        assert area["x"] <= rect["x"]
        assert rect["x"] + rect["width"] <= area["x"] + area["width"]
        assert area["y"] <= rect["y"]
        assert rect["y"] + rect["height"] <= area["y"] + area["height"]
    # The own session on Wednesday 14:00 sits in Wednesday's column, at 14:00's row.
    own = box(heatmap.locator("a.block[data-kind=own] rect").first)
    wednesday = box(heatmap.locator("rect.cell").nth(2 * 24 + 14))
    assert abs(own["y"] - wednesday["y"]) < 2
    assert wednesday["x"] <= own["x"] <= wednesday["x"] + wednesday["width"]

    heatmap.locator("a.block[data-kind=proposed]").first.click()
    why = page.locator("#why")
    expect(why).to_be_visible()
    expect(why).to_contain_text("score now")
    expect(why).to_contain_text("Evidence")
    expect(page.locator("#why-habit")).to_have_text(lambda_text_is_number())
    screenshot(page, tmp_path, "web-week-why.png")

    # The hostile title of the own session is shown as text, never as markup.
    heatmap.locator("a.block[data-kind=own]").first.click()
    expect(why).to_contain_text('<img src=x onerror="alert(1)">')
    assert page.locator("#why img").count() == 0
    assert page.locator("#why b").count() == 0


def lambda_text_is_number() -> Any:
    import re

    return re.compile(r"^\d\.\d\d$")


def test_approving_a_proposal_writes_it_to_radicale_and_declining_teaches_a_skip(
    page: Page, site: Site, tmp_path: Path
) -> None:
    assert site.calsync_events() == [], "approval mode wrote nothing before approval"
    page.goto(f"{site.url}/plan")
    rows = page.locator("tr.proposal")
    expect(rows).to_have_count(4)
    first = rows.first.get_attribute("data-id")
    rows.first.get_by_role("button", name="Approve").click()
    expect(page.locator("#message")).to_have_text("approved and wrote 1 block(s)")
    expect(page.locator("tr.proposal")).to_have_count(3)
    events = site.calsync_events()
    assert len(events) == 1
    assert f"X-CALSYNC-ID:{first}" in events[0].data.replace("\r\n ", "")
    screenshot(page, tmp_path, "web-plan-approved.png")

    second = page.locator("tr.proposal").first.get_attribute("data-id")
    page.locator("tr.proposal").first.get_by_role("button", name="Decline").click()
    expect(page.locator("#message")).to_contain_text("declined 1 proposal(s)")
    with site.cs.store.read() as tx:
        assert tx.find_update(f"suggestion:{second}:skip") is not None
        (row,) = [r for r in tx.suggestions("alice") if r.id == second]
    assert row.status == "declined"
    assert len(site.calsync_events()) == 1

    page.get_by_role("button", name="Approve all for blocks").click()
    expect(page.locator("#message")).to_have_text("approved and wrote 2 block(s)")
    assert len(site.calsync_events()) == 3
    assert proposals(site.cs) == []

    page.goto(f"{site.url}/health")
    chart = page.locator("svg#acceptance")
    expect(chart).to_be_visible()  # one week decided: 0 kept, 1 declined
    expect(chart.locator("rect.bar")).to_have_count(1)

    page.goto(f"{site.url}/week")
    kinds = page.locator("svg#heatmap a.block").evaluate_all("bs => bs.map(b => b.dataset.kind)")
    assert kinds.count("suggested") == 3
    assert kinds.count("declined") == 1


def test_adding_and_deleting_a_note(page: Page, site: Site, tmp_path: Path) -> None:
    page.goto(f"{site.url}/notes")
    text = "Tuesday mornings are my <b>sweet</b> spot"
    page.locator("#note-text").fill(text)
    page.locator("#add-note").click()
    expect(page.locator("#message")).to_have_text("noted")
    note = page.locator("tr.insight", has_text="Tuesday mornings")
    expect(note).to_have_count(1)
    expect(note.locator("td.text")).to_have_text(text)
    assert note.locator("b").count() == 0
    screenshot(page, tmp_path, "web-notes.png")
    with site.cs.store.read() as tx:
        assert [i.text for i in tx.insights("alice") if i.kind == "user"] == [text]
    note.get_by_role("button", name="Delete").click()
    expect(page.locator("#message")).to_have_text("deleted")
    expect(page.locator("tr.insight", has_text="Tuesday mornings")).to_have_count(0)


def test_the_health_page_shows_sources_targets_and_progress(
    page: Page, site: Site, tmp_path: Path
) -> None:
    page.goto(f"{site.url}/health")
    expect(page.locator("#sources")).to_contain_text("dav")
    expect(page.locator("#targets")).to_contain_text("blocks")
    expect(page.locator("#progress")).to_contain_text("Deep Coding")
    screenshot(page, tmp_path, "web-health.png")
