#!/usr/bin/env python3
"""Checks keyway's hosted pages for accessibility in Debian's Chromium: axe-core, keyboard focus, reflow.

Each page is loaded once (a page checked without JavaScript once per combination) and then checked in every theme
(light and dark, emulated with the DevTools protocol's `Emulation.setEmulatedMedia`, so the stylesheet's
`prefers-color-scheme` query switches) at every size (desktop 1280x800 and phone 390x844,
`Emulation.setDeviceMetricsOverride`, as a mobile viewport below 768px). Per page, theme and size it

  - runs axe-core (tests/browser/node_modules/axe-core/axe.min.js, pinned in tests/browser/package-lock.json and
    installed by .ci/install-deps.sh) with the WCAG 2.0, 2.1 and 2.2 A/AA rules;
  - walks the page with the Tab key: every focused control must show a focus indicator (an outline of at least
    2px, the browser's own `auto` ring, or a box-shadow), a solid outline must have 3:1 against the background
    behind the control, and the focus order must follow the document order (WCAG 2.4.3, 2.4.7, 1.4.11);
  - checks that the page does not scroll sideways (WCAG 1.4.10 reflow);
  - saves a full-page screenshot <page>-<theme>-<size>.png in KW_ARTIFACTS.
It also fails a page whose stylesheet or markup the Content-Security-Policy blocked (read from the browser log):
the pages must work under `default-src 'none'; style-src 'self'`, so an inline style would show up here.

Environment:
  KW_PAGES          JSON list of pages, checked in this order. Each is an object:
                      name        used in the report and the screenshot names (required)
                      url         the page to open (required)
                      signed_in   true: sign in first (once, through KW_LOGIN_URL) so the page sees a session;
                                  the browser stays signed in, so put pages that must not see a session (the
                                  login page) before, and a page that signs out after, all signed_in pages
                      form        object of field name -> value: fill these fields of the page's form and submit
                                  it, then check the page that answers ({} just presses the form's button)
                      javascript  false: load the page with JavaScript off (e.g. form_post's <noscript> button)
                      expect_text text that the checked page must contain (catches checking the wrong page)
                    Without KW_PAGES, a default list is built from KW_BASE, KW_CLIENT_ID and KW_REDIRECT_URI.
  KW_LOGIN_URL      an authorize URL whose login page signs in with KW_USER_EMAIL / KW_USER_PASSWORD
                    (default: built from KW_BASE, KW_CLIENT_ID, KW_REDIRECT_URI, KW_ACCOUNT)
  KW_REDIRECT_URI   where a successful sign-in goes (nothing needs to listen there)
  KW_ARTIFACTS      directory for the screenshots (created if missing)
  KW_THEMES         comma-separated, default "light,dark"
  KW_SIZES          comma-separated name=WIDTHxHEIGHT, default "desktop=1280x800,phone=390x844"
  KW_AXE            path of axe.min.js (default: tests/browser/node_modules/axe-core/axe.min.js)
  KW_TIMEOUT        seconds to wait for each page (default 20)

Prints one JSON line on stdout:
  {"ok": bool, "violations": [{"id", "impact", "page", "theme", "size", "help", "nodes": [...]}, ...],
   "checked": [{"page", "theme", "size", "url", "screenshot", "axe_passes", "focus_order", "minor", "incomplete"}],
   "axe_version": ..., "elapsed_ms": ...}
`violations` lists only serious and critical findings (axe's impact; the focus, reflow and CSP checks report
"serious"); minor and moderate ones are listed per check under `minor`, and axe's "needs review" rule ids under
`incomplete`. Exits 1 when there is a serious or critical violation or a page could not be checked ("error").
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from urllib.parse import urlencode, urlsplit

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_AXE = os.path.join(HERE, "node_modules", "axe-core", "axe.min.js")
# axe-core's tags for the WCAG 2.0, 2.1 and 2.2 level A and AA success criteria.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FAILING = {"serious", "critical"}
MAX_TABS = 60


class CheckFailed(Exception):
    pass


def check(cond: object, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name) or default
    if value is None:
        raise CheckFailed(f"environment variable {name} is not set")
    return value


def start_browser(profile_dir: str, timeout: float) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # The flags of login_flow.py.
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={profile_dir}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(timeout)
    driver.set_script_timeout(60)
    return driver


# --- the pages ---------------------------------------------------------------------------------------------

def default_login_url() -> str:
    base = env("KW_BASE")
    query = {"client_id": env("KW_CLIENT_ID"), "redirect_uri": env("KW_REDIRECT_URI"), "response_type": "code",
             "scope": "openid", "state": "axe"}
    if os.environ.get("KW_ACCOUNT"):
        query["customer_account_code"] = os.environ["KW_ACCOUNT"]
    return f"{base}/oauth2/authorize?{urlencode(query)}"


def default_pages() -> list[dict]:
    """Every hosted page, for a server with the demo data (`keyway serve --demo`)."""
    base, login_url = env("KW_BASE"), default_login_url()
    form_post = login_url.replace("state=axe", "state=axe-form-post") + "&response_mode=form_post"
    unknown_client = f"{base}/oauth2/authorize?{urlencode({'client_id': 'no-such-client', 'response_type': 'code'})}"
    return [
        {"name": "login", "url": login_url},
        {"name": "login-error", "url": login_url,
         "form": {"email": "nobody@example.com", "password": "not-the-password"}},
        {"name": "portal-sign-in", "url": f"{base}/login"},
        {"name": "error", "url": unknown_client},
        {"name": "portal", "url": f"{base}/account", "signed_in": True},
        {"name": "form-post", "url": form_post, "signed_in": True, "javascript": False},
        {"name": "logout", "url": f"{base}/logout"},
        {"name": "signed-out", "url": f"{base}/logout", "form": {}},
    ]


def parse_sizes(spec: str) -> list[tuple[str, int, int]]:
    sizes = []
    for item in spec.split(","):
        m = re.fullmatch(r"\s*([a-z0-9_-]+)=(\d+)x(\d+)\s*", item)
        check(m, f"bad KW_SIZES entry {item!r} (want name=WIDTHxHEIGHT)")
        sizes.append((m.group(1), int(m.group(2)), int(m.group(3))))
    return sizes


def wait_loaded(driver: webdriver.Chrome, timeout: float) -> None:
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.readyState") == "complete")


def submit_form(driver: webdriver.Chrome, fields: dict, timeout: float) -> None:
    """Fills `fields` into the page's form (the one holding the first field, else the first with a button),
    presses its submit button and waits for the answer to load."""
    form = None
    for name, value in fields.items():
        try:
            field = driver.find_element(By.NAME, name)
        except NoSuchElementException:
            raise CheckFailed(f"no field name={name!r} at {driver.current_url}") from None
        field.clear()
        field.send_keys(value)
        form = form or field.find_element(By.XPATH, "ancestor::form[1]")
    if form is None:
        forms = [f for f in driver.find_elements(By.TAG_NAME, "form") if f.find_elements(By.CSS_SELECTOR, "button")]
        check(forms, f"no form with a button at {driver.current_url}")
        form = forms[0]
    old = driver.find_element(By.TAG_NAME, "html")
    buttons = form.find_elements(By.CSS_SELECTOR, "button[type=submit], button:not([type]), input[type=submit]")
    check(buttons, "the form has no submit button")
    # A script click rather than WebDriver's: the latter inspects the button after the click, which fails now
    # and then ("Node ... does not belong to the document") when the click has already navigated away.
    driver.execute_script("arguments[0].click();", buttons[0])
    try:
        WebDriverWait(driver, timeout).until(ec.staleness_of(old))
    except TimeoutException:
        raise CheckFailed(f"submitting the form at {driver.current_url} did not load a new page") from None
    wait_loaded(driver, timeout)


def sign_in(driver: webdriver.Chrome, timeout: float) -> None:
    login_url = env("KW_LOGIN_URL", "") or default_login_url()
    driver.get(login_url)
    wait_loaded(driver, timeout)
    check(driver.find_elements(By.NAME, "password"), f"no login form at {login_url}: {body_text(driver)[:200]!r}")
    submit_form(driver, {"email": env("KW_USER_EMAIL"), "password": env("KW_USER_PASSWORD")}, timeout)
    redirect = os.environ.get("KW_REDIRECT_URI", "")
    path = urlsplit(driver.current_url).path
    signed_in = driver.current_url.startswith(redirect) if redirect else path not in ("/login", "/oauth2/authorize")
    check(signed_in, f"signing in did not leave the login page: at {driver.current_url}: {body_text(driver)[:200]!r}")


def body_text(driver: webdriver.Chrome) -> str:
    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except WebDriverException:
        return ""


# --- the checks --------------------------------------------------------------------------------------------

AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations', 'incomplete']})
  .then(r => done({
    passes: r.passes.length,
    violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, tags: v.tags,
      nodes: v.nodes.map(n => ({target: n.target, html: n.html.slice(0, 300),
                                summary: (n.failureSummary || '').slice(0, 500)}))})),
    incomplete: r.incomplete.map(v => v.id)}))
  .catch(e => done({error: String(e && e.stack || e)}));
"""

# What the keyboard focus looks like on the focused element, and what lies behind it.
FOCUS_STATE = """
const e = document.activeElement;
if (!e || e === document.body || e === document.documentElement) return null;
const cs = getComputedStyle(e);
let bg = null;
for (let p = e.parentElement; p; p = p.parentElement) {
  const b = getComputedStyle(p).backgroundColor;
  const m = b.match(/rgba?\\(([^)]*)\\)/);
  const alpha = m ? (m[1].split(',')[3] === undefined ? 1 : parseFloat(m[1].split(',')[3])) : 0;
  if (alpha >= 1) { bg = b; break; }
}
const all = Array.from(document.querySelectorAll('*'));
const r = e.getBoundingClientRect();
const label = (e.getAttribute('aria-label') || e.innerText || e.value || e.name || '').trim().slice(0, 40);
return {index: all.indexOf(e), tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name'), label,
        outlineStyle: cs.outlineStyle, outlineWidth: parseFloat(cs.outlineWidth) || 0, outlineColor: cs.outlineColor,
        boxShadow: cs.boxShadow, bg, focusVisible: e.matches(':focus-visible'),
        inViewport: r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth};
"""


def parse_rgb(value: str | None) -> tuple[float, float, float] | None:
    m = re.match(r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)", value or "")
    return tuple(float(m.group(i)) / 255 for i in (1, 2, 3)) if m else None  # type: ignore[return-value]


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    def lum(c: tuple[float, float, float]) -> float:
        r, g, b_ = (x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def describe(state: dict) -> str:
    what = state["tag"] + (f"#{state['id']}" if state["id"] else "") + (f"[name={state['name']}]" if state["name"] else "")
    return f"{what} {state['label']!r}" if state["label"] else what


# The controls that Tab should reach, in document order (positive tabindex aside, which the pages never use).
TABBABLES = """
const sel = 'a[href], area[href], button, input, select, textarea, summary, iframe, [tabindex], [contenteditable=""], [contenteditable=true]';
const all = Array.from(document.querySelectorAll('*'));
return Array.from(document.querySelectorAll(sel))
  .filter(e => e.tabIndex >= 0 && !e.disabled && !(e.tagName === 'INPUT' && e.type === 'hidden')
               && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden')
  .map(e => all.indexOf(e));
"""

# Moves the sequential focus navigation starting point to the top of the document: <body> takes the focus for a
# moment (a temporary tabindex makes it focusable), so that the next Tab goes to the first control. (Blurring the
# focused control would leave the starting point where it was.)
FOCUS_FROM_TOP = """
document.body.setAttribute('tabindex', '-1');
document.body.focus();
document.body.removeAttribute('tabindex');
"""


def focus_walk(driver: webdriver.Chrome) -> tuple[list[str], list[dict]]:
    """Presses Tab once per control from the top of the page; returns the focus order and the problems found.

    It never tabs past the last control: headless Chromium does not reliably bring the focus back into the page
    once it has left it."""
    start = driver.execute_script("return document.activeElement")
    expected = driver.execute_script(TABBABLES)
    driver.execute_script(FOCUS_FROM_TOP)
    seen: list[dict] = []
    problems: list[dict] = []
    for _ in expected[:MAX_TABS]:
        ActionChains(driver).send_keys(Keys.TAB).perform()
        state = driver.execute_script(FOCUS_STATE)
        if state is None:
            break
        seen.append(state)
    order = [describe(s) for s in seen]
    if [s["index"] for s in seen] != expected[:MAX_TABS]:
        problems.append({"id": "focus-order",
                         "help": "Tab does not reach the controls in document order (WCAG 2.4.3, 2.1.1)",
                         "nodes": [{"target": order, "summary": f"{len(expected)} controls in the document, "
                                    f"{len(seen)} reached by Tab, in this order"}]})
    for s in seen:
        width_ok = s["outlineStyle"] == "auto" or (s["outlineStyle"] != "none" and s["outlineWidth"] >= 2)
        visible = width_ok or (s["boxShadow"] not in ("", "none"))
        if not visible:
            problems.append({"id": "focus-indicator", "help": "Keyboard focus is not visible (WCAG 2.4.7)",
                             "nodes": [{"target": [describe(s)], "summary": f"outline {s['outlineStyle']} "
                                        f"{s['outlineWidth']}px, box-shadow {s['boxShadow']}"}]})
            continue
        if not s["inViewport"]:
            problems.append({"id": "focus-not-visible-in-viewport",
                             "help": "The focused control is outside the viewport (WCAG 2.4.11)",
                             "nodes": [{"target": [describe(s)], "summary": ""}]})
        fg, bg = parse_rgb(s["outlineColor"]), parse_rgb(s["bg"])
        if s["outlineStyle"] not in ("auto", "none") and fg and bg:
            ratio = contrast(fg, bg)
            s["ratio"] = round(ratio, 2)
            if ratio < 3:
                problems.append({"id": "focus-indicator-contrast",
                                 "help": "Focus indicator contrast is below 3:1 (WCAG 1.4.11)",
                                 "nodes": [{"target": [describe(s)], "summary": f"outline {s['outlineColor']} on "
                                            f"{s['bg']} = {ratio:.2f}:1"}]})
    # Leave the focus where the page put it, so the next screenshot shows the page as loaded.
    driver.execute_script("if (arguments[0] && arguments[0] !== document.body) arguments[0].focus();"
                          " else if (document.activeElement) document.activeElement.blur();", start)
    return order, problems


def csp_errors(driver: webdriver.Chrome) -> list[str]:
    try:
        entries = driver.get_log("browser")
    except WebDriverException:
        return []
    return [e.get("message", "") for e in entries if "Content Security Policy" in e.get("message", "")]


def screenshot(driver: webdriver.Chrome, path: str) -> str:
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    data = base64.b64decode(shot["data"])
    check(len(data) > 1000, f"screenshot {path} is empty")
    with open(path, "wb") as f:
        f.write(data)
    return path


def emulate(driver: webdriver.Chrome, theme: str, width: int, height: int, mobile: bool, settle: bool = True) -> None:
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"media": "", "features": [{"name": "prefers-color-scheme", "value": theme}]})
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
    if settle:
        # Let the style and layout settle (two frames) before measuring.
        driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()));")


def load(driver: webdriver.Chrome, page: dict, ctx: dict, report: dict) -> None:
    """Opens the page (and submits its form when the page says so). A page checked without JavaScript is parsed
    with scripts off, so its own scripts never run and its <noscript> content is laid out; scripts are then
    switched back on for axe-core's timers (<noscript> content stays laid out until the next media or viewport
    change, which is why such pages are loaded again for every theme and size)."""
    scripts = page.get("javascript", True)
    report["step"] = f"{page['name']}: loading"
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": not scripts})
    try:
        driver.get(page["url"])
        wait_loaded(driver, ctx["timeout"])
    finally:
        driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    if "form" in page:
        report["step"] = f"{page['name']}: submitting the form"
        submit_form(driver, page["form"], ctx["timeout"])
    driver.execute_script(ctx["axe_source"])


def check_page(driver: webdriver.Chrome, page: dict, ctx: dict, report: dict) -> None:
    name = page["name"]
    if page.get("signed_in") and not ctx["signed_in"]:
        report["step"] = f"{name}: signing in"
        sign_in(driver, ctx["timeout"])
        ctx["signed_in"] = True
    reload_each_time = not page.get("javascript", True)
    driver.get_log("browser")  # drop older entries
    loaded = False
    for theme in ctx["themes"]:
        for size, width, height in ctx["sizes"]:
            report["step"] = f"{name}: {theme} {size}"
            if reload_each_time or not loaded:
                emulate(driver, theme, width, height, mobile=width < 768, settle=False)
                load(driver, page, ctx, report)
                loaded = True
                report["step"] = f"{name}: {theme} {size}"
            emulate(driver, theme, width, height, mobile=width < 768)
            if page.get("expect_text"):
                check(page["expect_text"].lower() in body_text(driver).lower(),
                      f"{name}: {page['expect_text']!r} is not shown at {driver.current_url}: "
                      f"{body_text(driver)[:200]!r}")
            shot = screenshot(driver, os.path.join(ctx["artifacts"], f"{name}-{theme}-{size}.png"))
            result = driver.execute_async_script(AXE_RUN, WCAG_TAGS)
            check("error" not in result, f"axe failed on {name}: {result.get('error')}")
            found = list(result["violations"])
            scroll_width, viewport_width = driver.execute_script(
                "const d = document.documentElement; return [d.scrollWidth, d.clientWidth];")
            if scroll_width > viewport_width:
                found.append({"id": "horizontal-scroll", "impact": "serious",
                              "help": "The page scrolls sideways (WCAG 1.4.10 reflow)",
                              "nodes": [{"target": ["html"],
                                         "summary": f"scrollWidth {scroll_width} > viewport {viewport_width}"}]})
            order, focus_problems = focus_walk(driver)
            found += [dict(p, impact="serious") for p in focus_problems]
            minor = []
            for v in found:
                entry = {"id": v["id"], "impact": v["impact"], "page": name, "theme": theme, "size": size,
                         "url": driver.current_url, "help": v.get("help", ""), "nodes": v["nodes"]}
                if v["impact"] in FAILING:
                    report["violations"].append(entry)
                else:
                    minor.append(f"{v['id']} ({v['impact']})")
            report["checked"].append({"page": name, "theme": theme, "size": size, "url": driver.current_url,
                                      "screenshot": shot, "axe_passes": result["passes"], "focus_order": order,
                                      "minor": minor, "incomplete": result["incomplete"]})
    blocked = csp_errors(driver)
    if blocked:
        report["violations"].append({"id": "csp-blocked", "impact": "serious", "page": name, "theme": "*",
                                     "size": "*", "url": driver.current_url,
                                     "help": "The Content-Security-Policy blocked part of the page",
                                     "nodes": [{"target": ["document"], "summary": m[:500]} for m in blocked]})


def main() -> int:
    report: dict = {"ok": False, "violations": [], "checked": [], "step": "start"}
    started = time.monotonic()
    profile_dir = tempfile.mkdtemp(prefix="keyway-axe-")
    driver = None
    artifacts = None
    try:
        artifacts = env("KW_ARTIFACTS")
        os.makedirs(artifacts, exist_ok=True)
        pages = json.loads(os.environ["KW_PAGES"]) if os.environ.get("KW_PAGES") else default_pages()
        check(isinstance(pages, list) and pages, "KW_PAGES must be a non-empty JSON list")
        for p in pages:
            check(isinstance(p, dict) and p.get("name") and p.get("url"), f"each page needs a name and a url: {p!r}")
            check(re.fullmatch(r"[A-Za-z0-9_-]+", p["name"]), f"page name {p['name']!r}: letters, digits, - and _")
        themes = [t.strip() for t in env("KW_THEMES", "light,dark").split(",") if t.strip()]
        check(all(t in ("light", "dark") for t in themes), f"KW_THEMES: light and/or dark, not {themes}")
        axe_path = env("KW_AXE", DEFAULT_AXE)
        check(os.path.isfile(axe_path), f"{axe_path} is missing: run .ci/install-deps.sh")
        with open(axe_path, encoding="utf-8") as f:
            axe_source = f.read()
        version = re.search(r"axe v([\d.]+)", axe_source[:200])
        report["axe_version"] = version.group(1) if version else None
        ctx = {"artifacts": artifacts, "themes": themes, "sizes": parse_sizes(env("KW_SIZES", "desktop=1280x800,phone=390x844")),
               "timeout": float(env("KW_TIMEOUT", "20")), "axe_source": axe_source, "signed_in": False}
        report["step"] = "browser"
        for path in (CHROMIUM, CHROMEDRIVER):
            check(os.access(path, os.X_OK), f"{path} is missing: run .ci/install-deps.sh")
        driver = start_browser(profile_dir, ctx["timeout"])
        for page in pages:
            check_page(driver, page, ctx, report)
        report.pop("step")
        report["ok"] = not report["violations"]
    except Exception as e:  # noqa: BLE001 - every failure becomes the one JSON line
        message = str(e) if isinstance(e, CheckFailed) else f"{type(e).__name__}: {e}"
        if not isinstance(e, (CheckFailed, WebDriverException)):
            traceback.print_exc(file=sys.stderr)
        report["error"] = f"[{report.get('step')}] {message.strip()}"
        if driver is not None and artifacts:
            try:
                report["failure_url"] = driver.current_url
                driver.save_screenshot(os.path.join(artifacts, "failure-axe.png"))
                with open(os.path.join(artifacts, "failure-axe.html"), "w", encoding="utf-8") as f:
                    f.write(driver.page_source)
            except WebDriverException:
                pass
    finally:
        if driver is not None:
            try:
                driver.quit()
            except WebDriverException:
                pass
        shutil.rmtree(profile_dir, ignore_errors=True)
    report["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    print(json.dumps(report), flush=True)
    if not report["ok"]:
        for v in report["violations"]:
            print(f"axe_check: {v['impact']} {v['id']} on {v['page']} ({v['theme']}, {v['size']}): {v['help']}",
                  file=sys.stderr)
        if report.get("error"):
            print(f"axe_check FAILED: {report['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
