"""The audit-trail app in a real browser: Debian's chromium driven by Playwright (never
`playwright install`, which downloads). Skipped, saying why, when chromium or Playwright is
missing (`make setup` installs chromium when it runs as root).

Screenshots go to a temporary folder; with ZKML_SCREENSHOTS=DIR (e.g. build/screenshots) they
are also copied there.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Pipeline
from tests.integration.test_serve import XSS_LABEL, XSS_URI, World, world  # noqa: F401

CHROMIUM = Path("/usr/lib/chromium/chromium")  # the real binary, not the /usr/bin wrapper
pytestmark = [
    pytest.mark.browser, pytest.mark.anvil, pytest.mark.timeout(600),
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no chromium at {CHROMIUM}: install "
                       "Debian's package (`apt-get install -y chromium`; `make setup` does it "
                       "as root)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                               "(the `serve` extra)")


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    target = os.environ.get("ZKML_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for p in folder.glob("*.png"):
            shutil.copy2(p, Path(target) / p.name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, world: World) -> Iterator[Any]:  # noqa: F811
    ctx = browser.new_context(base_url=world.url, accept_downloads=True,
                              viewport={"width": 1400, "height": 900})
    p = ctx.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.dialogs, p.errors = dialogs, errors
    yield p
    ctx.close()
    assert dialogs == [], f"a script ran: {dialogs}"


def test_models_page_shows_the_model_and_escapes_its_metadata(page: Any, world: World,  # noqa: F811
                                                              tiny: Pipeline, shots: Path
                                                              ) -> None:
    page.goto("/")
    rows = page.locator("#models tbody tr")
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first).to_contain_text(tiny.keys.model_id[:10])
    # the metadata is shown as text, exactly; no attribute or element was injected
    sync_api.expect(page.locator("td.meta-uri")).to_have_text(XSS_URI)
    assert page.locator("[onmouseover]").count() == 0
    assert page.locator("main script").count() == 0
    page.locator("td.meta-uri").hover()
    page.screenshot(path=str(shots / "models.png"), full_page=True)
    assert page.dialogs == []


def test_model_page_draws_both_charts(page: Any, world: World, shots: Path) -> None:  # noqa: F811
    page.goto("/")
    page.locator("#models tbody tr a").first.click()
    sync_api.expect(page.locator("#model-facts")).to_contain_text(world.reg.onchain_model_id)
    sync_api.expect(page.locator("#model-facts")).to_contain_text(XSS_LABEL)
    for chart in ("#chart-activity", "#chart-outputs"):
        img = page.locator(chart)
        img.scroll_into_view_if_needed()
        page.wait_for_function("el => el.complete && el.naturalWidth > 300",
                               arg=img.element_handle())
    assert page.locator("[onerror]").count() == 0
    page.screenshot(path=str(shots / "model.png"), full_page=True)


def test_inferences_filter_paginate_and_download_csv(page: Any, world: World,  # noqa: F811
                                                     shots: Path) -> None:
    page.goto("/inferences")
    total = int(page.locator("#total").inner_text())
    assert total >= 3
    sync_api.expect(page.locator("#inferences tbody tr")).to_have_count(min(total, 50))
    second = world.chain.w3.eth.accounts[1]
    page.fill("#f-submitter", second)
    page.click("#f-apply")
    sync_api.expect(page.locator("#total")).to_have_text("1")
    sync_api.expect(page.locator("#inferences tbody tr")).to_have_count(1)
    page.screenshot(path=str(shots / "inferences_filtered.png"), full_page=True)
    with page.expect_download() as dl:
        page.click("#dl-csv")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    assert [r["submitter"] for r in rows] == [second]
    page.goto("/inferences?per_page=2")
    first_page = page.locator("#inferences tbody tr").first.inner_text()
    page.click("#next")
    sync_api.expect(page.locator("#inferences tbody tr").first).not_to_have_text(first_page)
    page.fill("#f-model", "not-an-id")
    page.click("#f-apply")
    sync_api.expect(page.locator("#error")).to_contain_text("32 bytes of hex")


def _upload(page: Any, world: World, bundle: str, package: str | None = None) -> None:  # noqa: F811
    page.goto("/verify")
    page.set_input_files("#bundle", str(world.files / bundle))
    if package:
        page.set_input_files("#package", str(world.files / package))
    page.click("#verify-submit")
    page.wait_for_selector("#verdict", timeout=120_000)


def test_verify_page_reads_valid_tampered_and_foreign_bundles(page: Any, world: World,  # noqa: F811
                                                              shots: Path) -> None:
    _upload(page, world, "bundle.json")
    sync_api.expect(page.locator("#status")).to_contain_text("Valid proof")
    sync_api.expect(page.locator("#onchain")).to_have_text("recorded")
    sync_api.expect(page.locator("#match")).to_have_text("matches")
    sync_api.expect(page.locator("#decoded")).to_contain_text(XSS_LABEL)  # as text
    page.screenshot(path=str(shots / "verify_valid.png"), full_page=True)

    _upload(page, world, "tampered.json")
    sync_api.expect(page.locator("#status")).to_contain_text("Invalid")
    sync_api.expect(page.locator("#reason")).to_contain_text("outputs")
    sync_api.expect(page.locator("#match")).to_have_text("does not match")
    page.screenshot(path=str(shots / "verify_tampered.png"), full_page=True)

    _upload(page, world, "foreign.json", "pkg_b.zip")
    sync_api.expect(page.locator("#status")).to_contain_text("Valid proof")
    sync_api.expect(page.locator("#onchain")).to_have_text("not registered")
    sync_api.expect(page.locator("#decoded")).to_contain_text("cat")
    page.screenshot(path=str(shots / "verify_foreign.png"), full_page=True)
    assert page.errors == []


def test_api_docs_render_offline(page: Any, world: World, shots: Path) -> None:  # noqa: F811
    outside: list[str] = []
    page.route("**/*", lambda route: (outside.append(route.request.url), route.abort())
               if not route.request.url.startswith(world.url) else route.continue_())
    page.goto("/docs")
    sync_api.expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    sync_api.expect(page.locator("#swagger-ui")).to_contain_text("/api/inferences")
    page.screenshot(path=str(shots / "docs.png"))
    assert outside == []
