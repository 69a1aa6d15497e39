"""A claim page in a real browser (Debian's chromium via Playwright, as test_serve_browser.py):
the per-group chart is drawn with a bar per group and the group names, and the CSV downloads.
Skipped, saying why, when chromium or Playwright is missing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Debian's chromium and the browser fixture: test_serve_browser's (it skips, saying why,
# when Playwright is missing)
from tests.integration.test_serve_browser import CHROMIUM, browser, sync_api  # noqa: F401
from tests.integration.test_serve_claims import (  # noqa: F401 - the fixture
    XSS_GROUP,
    ClaimsWorld,
    claims_world,
)
from zkml.chain import claims as C

pytestmark = [
    pytest.mark.browser, pytest.mark.timeout(600),
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no chromium at {CHROMIUM}: install "
                       "Debian's package (`apt-get install -y chromium`; `make setup` does it "
                       "as root)"),
]


@pytest.fixture
def page(browser: Any, claims_world: ClaimsWorld) -> Iterator[Any]:  # noqa: F811
    ctx = browser.new_context(base_url=claims_world.url, accept_downloads=True,
                              viewport={"width": 1400, "height": 900})
    p = ctx.new_page()
    dialogs: list[str] = []
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield p
    ctx.close()
    assert dialogs == [], f"a script ran: {dialogs}"


def _chart_groups(page: Any, svg_url: str) -> list[dict[str, Any]]:
    """Per group label in the drawn SVG: its text, and whether its bars have a size."""
    page.goto(svg_url)
    return list(page.evaluate("""() => Array.from(document.querySelectorAll('[id^="group-"]'))
        .map(g => {
          const i = g.id.slice(6);
          const size = id => { const el = document.getElementById(id);
                               if (!el) return null;
                               const b = el.getBBox(); return [b.width, b.height]; };
          return {text: g.textContent.trim(), sel: size('sel-' + i), tpr: size('tpr-' + i)};
        })"""))


@pytest.mark.parametrize("which", ["plain", "hostile"])
def test_claim_page_draws_a_bar_per_group_and_downloads_the_csv(
        page: Any, claims_world: ClaimsWorld, which: str, tmp_path: Path) -> None:  # noqa: F811
    w = claims_world
    cid, claim = (w.plain_id, w.plain) if which == "plain" else (w.hostile_id, w.hostile)
    page.goto(f"/claims?model={w.model.onchain_model_id}")
    page.locator(f'a[href="/claims/{cid}"]').click()
    sync_api.expect(page.locator("#claim-facts")).to_contain_text(cid)
    sync_api.expect(page.locator("#set-root")).to_have_text(claim.set_root)
    sync_api.expect(page.locator("#set-committer")).to_have_text(w.chain.account)
    names = [g.group for g in claim.metrics.groups]
    sync_api.expect(page.locator("#claim-groups .group-name")).to_have_text(names)  # as text
    img = page.locator("#chart-groups")
    img.scroll_into_view_if_needed()
    page.wait_for_function("el => el.complete && el.naturalWidth > 300",
                           arg=img.element_handle())
    page.screenshot(path=str(tmp_path / f"claim_{which}.png"), full_page=True)

    with page.expect_download() as dl:
        page.click("#dl-claim-csv")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    assert [int(r["value_ppm"]) for r in rows] == C.onchain_metrics(claim.metrics)[1]

    drawn = _chart_groups(page, f"/claims/{cid}/groups.svg")
    assert [g["text"] for g in drawn] == names
    for g, rates in zip(drawn, claim.metrics.groups, strict=True):
        assert g["sel"] is not None and g["sel"][0] > 0 and g["sel"][1] > 0
        assert (g["tpr"] is None) == (rates.true_positive_rate is None)
        if g["tpr"] is not None:
            assert g["tpr"][1] > 0
    if which == "hostile":  # the group name is text in the drawing, never an element
        assert page.locator("img").count() == 0 and XSS_GROUP in drawn[0]["text"]
