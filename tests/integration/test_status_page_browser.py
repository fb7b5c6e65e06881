"""The status page in a real browser (Debian's chromium, Playwright): the survivor's journey at phone width by
keyboard only (enter the card, read the timeline, ask to be contacted, switch to Spanish), an axe-core scan of
every page with zero serious or critical violations (WCAG 2.2 A/AA rules), and screenshots at phone (390×844)
and desktop (1280×800) widths saved under test-artifacts/status-page/ (gitignored)."""

from __future__ import annotations

import secrets

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.api_helpers import api_harness
from tests.web.browser import ARTIFACTS, WCAG_TAGS, chromium, serve
from tests.web.support import kit_with_card

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
AXE = Axe()
EMAIL = "survivor.canary@example.org"


def _axe(page: Page, name: str) -> list[str]:
    """Serious or critical axe violations of the page (as 'rule: help' lines)."""
    results = AXE.run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    (ARTIFACTS / f"axe-{page.context.pages.index(page)}-{name}.json").write_text(results.generate_report())
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")]


def _tab_to(page: Page, selector: str, limit: int = 20) -> int:
    """Press Tab until `selector` has the focus; the number of presses (fails past `limit`)."""
    for n in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return n
    raise AssertionError(f"{selector} not reachable with Tab")


def _focus_visible(page: Page) -> bool:
    return page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle !== 'none'")


# The browser sees pages, not a database: the journey runs once, on the embedded database; every request the page
# makes is tested over HTTP on both databases (test_status_page*.py).
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_survivor_journey_in_chromium(db_url, tmp_path, clock, s3_settings):
    """Phone, keyboard only: card → timeline → contact request → notice request (e-mail) → keep longer →
    Spanish; desktop screenshots; axe clean on every state."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    h = api_harness(db_url, tmp_path, centre_contact="Call the centre: 555-0100 (24 hours)",
                    status_page_url="https://care.example.org/status", **s3_settings.overrides(),
                    s3_bucket=f"coc-br-{secrets.token_hex(5)}")
    try:
        kit = kit_with_card(h, tmp_path)
        problems: dict[str, list[str]] = {}
        with serve(h.app) as base, chromium() as browser:
            phone = browser.new_context(viewport=PHONE, device_scale_factor=2, locale="en-US", is_mobile=True,
                                        has_touch=True)
            page = phone.new_page()
            messages: list[str] = []
            page.on("console", lambda m: messages.append(m.text))
            page.goto(f"{base}/status")
            assert page.title() == "Your kit's status"
            problems["form"] = _axe(page, "form")
            page.screenshot(path=str(ARTIFACTS / "phone-1-form.png"), full_page=True)

            assert _tab_to(page, "#code") >= 2  # the skip link and the language links come first
            assert _focus_visible(page)
            page.keyboard.type(kit.code)
            page.keyboard.press("Tab")
            page.keyboard.type(kit.password)
            page.keyboard.press("Enter")
            page.wait_for_selector("h1:has-text('Your kit')")
            assert page.locator("[aria-current=step]").inner_text().startswith("With law enforcement since")
            assert page.locator(".timeline li").count() >= 4
            assert page.get_by_text("Verified:").is_visible()
            problems["kit"] = _axe(page, "kit")
            page.screenshot(path=str(ARTIFACTS / "phone-2-kit.png"), full_page=True)
            assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways

            _tab_to(page, "form[action='/status/contact'] button", limit=40)
            assert _focus_visible(page)
            page.keyboard.press("Enter")
            page.wait_for_selector("[role=status]")
            assert "The centre has your request" in page.locator("[role=status]").inner_text()
            problems["contact"] = _axe(page, "contact")
            page.screenshot(path=str(ARTIFACTS / "phone-3-contact.png"), full_page=True)

            # notice before destruction by e-mail, keyboard only: the radio group, the address, the button
            _tab_to(page, "#kind-email", limit=60)
            assert _focus_visible(page)
            page.keyboard.press("Space")
            page.keyboard.press("Tab")
            assert page.evaluate("() => document.activeElement.id") == "notice-value"
            page.keyboard.type(EMAIL)
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            page.wait_for_selector("text=Your request is recorded")
            assert EMAIL not in page.content() and EMAIL not in page.url
            assert page.get_by_text("you asked to be told by e-mail").is_visible()
            problems["notice"] = _axe(page, "notice")
            page.screenshot(path=str(ARTIFACTS / "phone-3b-notice.png"), full_page=True)

            # keep the kit two more years: arrow keys in the radio group, then the button
            _tab_to(page, "#years-1", limit=60)
            page.keyboard.press("ArrowDown")
            assert page.evaluate("() => document.activeElement.id") == "years-2"
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            page.wait_for_selector("text=Your kit will now be kept at least until")
            assert page.get_by_text("you asked to keep your kit longer").is_visible()
            problems["extended"] = _axe(page, "extended")
            page.screenshot(path=str(ARTIFACTS / "phone-3c-extended.png"), full_page=True)
            assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]

            _tab_to(page, "button[lang=es]", limit=10)
            page.keyboard.press("Enter")
            page.wait_for_selector("html[lang=es]")
            assert page.locator("h1").inner_text() == "Su kit"
            assert page.get_by_text("Verificado:").is_visible()
            assert page.get_by_role("heading", name="Conservar su kit más tiempo").is_visible()
            assert page.locator(".requests li", has_text="por correo electrónico").is_visible()
            problems["kit-es"] = _axe(page, "kit-es")
            page.screenshot(path=str(ARTIFACTS / "phone-4-kit-es.png"), full_page=True)

            page.goto(f"{base}/status?lang=es")
            page.fill("#code", kit.code)
            page.fill("#password", "not-the-password")
            page.click("button[type=submit]")
            page.wait_for_selector("[role=alert]")
            assert "no funcionaron" in page.locator("[role=alert]").inner_text()
            problems["error-es"] = _axe(page, "error-es")
            page.screenshot(path=str(ARTIFACTS / "phone-5-error-es.png"), full_page=True)
            assert not any("Content Security Policy" in m for m in messages), messages
            phone.close()

            desktop = browser.new_context(viewport=DESKTOP, locale="en-US")
            page = desktop.new_page()
            page.goto(f"{base}/status")
            page.screenshot(path=str(ARTIFACTS / "desktop-1-form.png"), full_page=True)
            page.fill("#code", kit.code)
            page.fill("#password", kit.password)
            page.click("button[type=submit]")
            page.wait_for_selector(".timeline")
            problems["kit-desktop"] = _axe(page, "kit-desktop")
            page.screenshot(path=str(ARTIFACTS / "desktop-2-kit.png"), full_page=True)
            page.click("#kind-sms")  # a text message without a number: the page says what is missing
            page.click("form[action='/status/notice'] button")
            page.wait_for_selector("[role=alert]")
            assert "Please type your e-mail address" in page.locator("[role=alert]").inner_text()
            problems["notice-error-desktop"] = _axe(page, "notice-error-desktop")
            page.screenshot(path=str(ARTIFACTS / "desktop-3-notice-error.png"), full_page=True)
            page.click("#kind-none")
            page.click("form[action='/status/notice'] button")
            page.wait_for_selector("text=Your choice is recorded")
            problems["no-contact-desktop"] = _axe(page, "no-contact-desktop")
            page.screenshot(path=str(ARTIFACTS / "desktop-4-no-contact.png"), full_page=True)
            desktop.close()
        assert {k: v for k, v in problems.items() if v} == {}
        assert (ARTIFACTS / "phone-2-kit.png").stat().st_size > 10_000
    finally:
        h.close()
