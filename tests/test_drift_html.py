"""drift.html opened in headless Chromium, driven over the DevTools protocol.

It renders, the matrix has one cell per environment and check, the filters work, details fold,
and no request leaves the page (every request is observed via the Network domain and blocked via
the Fetch domain; a control page proves the observer sees a request when there is one).
"""
from __future__ import annotations

import base64
import http.server
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from releasegate.drift import document as dr, page as drift_page

websocket = pytest.importorskip("websocket", reason="websocket-client (a kubernetes dependency)")

CHROMIUM = shutil.which("chromium", path="/usr/bin") or shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless HTML test needs Debian's chromium at /usr/bin/chromium "
                             "(apt-get install chromium; .ci/run installs it)")
ARTIFACTS = Path(__file__).resolve().parents[1] / "reports" / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"]
ENVS = ["echo-next", "production", "testing"]
LINK = "https://git.example.test/org/gitops/blob/c0ffee/helm/app/values-production.yaml#L3"
CHECKS = ["test_cert", "test_image_present", "test_settings_required", "test_workloads_ready"]


class Page:
    """One tab over a DevTools websocket: commands, recorded events, every request blocked."""

    def __init__(self, ws_url: str, allowed: set[str]):
        self.ws = websocket.create_connection(ws_url, suppress_origin=True, timeout=20)
        self.allowed = allowed          # URLs the page may load (its own file)
        self.requests: list[str] = []   # every request the page tried (Network domain)
        self.blocked: list[str] = []    # requests we refused (Fetch domain)
        self.events: list[dict] = []
        self._id = 0

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = self._recv()
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def _recv(self) -> dict:
        msg = json.loads(self.ws.recv())
        method = msg.get("method")
        if method:
            self.events.append(msg)
            params = msg.get("params", {})
            if method == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])
            elif method == "Fetch.requestPaused":
                self._decide(params)
        return msg

    def _decide(self, params: dict) -> None:
        self._id += 1
        url = params["request"]["url"]
        if url in self.allowed:
            msg = {"method": "Fetch.continueRequest", "params": {"requestId": params["requestId"]}}
        else:
            self.blocked.append(url)
            msg = {"method": "Fetch.failRequest",
                   "params": {"requestId": params["requestId"], "errorReason": "BlockedByClient"}}
        self.ws.send(json.dumps({"id": self._id, **msg}))

    def wait_for(self, method: str, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event["method"] == method:
                    self.events.remove(event)
                    return event
            self._recv()
        raise TimeoutError(f"no {method} within {timeout}s")

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"JS error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def settle(self, seconds: float = 0.3) -> None:
        """Drain events for a moment so that late requests are seen."""
        self.ws.settimeout(seconds)
        try:
            while True:
                self._recv()
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(20)

    def open(self, url: str) -> None:
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Network.enable")
        self.call("Fetch.enable", patterns=[{"urlPattern": "*"}])
        self.call("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        self.settle()

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium with a fresh profile; yields the DevTools HTTP base URL."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: list[str] = []

    def read_stderr():
        for line in proc.stderr:
            match = re.search(r"DevTools listening on ws://([\d.]+:\d+)/", line)
            if match and not found:
                found.append(match.group(1))

    threading.Thread(target=read_stderr, daemon=True).start()
    deadline = time.monotonic() + 30
    while not found and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if not found:
        proc.kill()
        pytest.fail(f"chromium did not start its DevTools endpoint (exit {proc.poll()})",
                    pytrace=False)
    yield f"http://{found[0]}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def new_page(browser: str, allowed: set[str]) -> Page:
    req = urllib.request.Request(f"{browser}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(req, timeout=10) as resp:
        target = json.load(resp)
    return Page(target["webSocketDebuggerUrl"], allowed)


def rec(check, env, item, outcome="failed", severity="blocker", message="", **details):
    return {"check": check, "environment": env, "item": item, "outcome": outcome,
            "severity": severity, "message": message, "details": details,
            "nodeid": f"checks/x.py::{check}[{env}-{item}]", "duration": 0.1}


def report_doc() -> dict:
    """Two nights of a small estate: 3 environments x 4 checks, every outcome kind present."""
    night1 = [
        rec("test_image_present", "production", "agent", message="agent:abc1234 is not in "
            "registry.demo.test (see https://registry.demo.test/v2/agent/manifests/abc1234)"),
        rec("test_settings_required", "production", "SEARCH_URL", message="SEARCH_URL unset"),
        rec("test_cert", "production", "portal", message="portal certificate expires in 3 days",
            not_after="2026-11-30"),
    ]
    night2 = [
        rec("test_image_present", "production", "agent", message="agent:abc1234 missing",
            repository="agent", tag="abc1234"),
        rec("test_settings_required", "production", "SEARCH_URL", outcome="passed", severity=None,
            message=None),
        rec("test_cert", "production", "portal", message="portal certificate expires in 2 days",
            not_after="2026-11-30"),
        rec("test_cert", "testing", "portal", outcome="error", severity="error",
            message="testing: https://portal.testing.demo.test unreachable: timed out"),
        dict(rec("test_workloads_ready", "production", "agent", message="production: agent: "
                 "ImagePullBackOff: build and push agent:abc1234, then the pods start",
                 image="agent:abc1234"),
             location={"source": "gitops", "path": "helm/app/values-production.yaml", "line": 3,
                       "commit": "c0ffee", "url": LINK}),
        rec("test_workloads_ready", "echo-next", "worker", outcome="passed", severity="warning",
            message="worker restarted 7 times in 1h"),
        rec("test_settings_required", "testing", "SMTP_PASSWORD", outcome="xfailed",
            severity="blocker", message="waived until 2026-12-31: secret rotation"),
        rec("test_image_present", "echo-next", "api", outcome="passed", severity=None),
        rec("test_image_present", "testing", "api", outcome="skipped", severity=None),
        rec("test_settings_required", "echo-next", "SEARCH_URL", outcome="passed", severity=None),
        rec("test_cert", "echo-next", "portal", outcome="passed", severity=None),
        rec("test_workloads_ready", "testing", "api", outcome="passed", severity=None),
    ]
    meta = {"envs": ENVS, "refs": {"app": "main", "gitops": "main"}, "duration": 12.3,
            "version": "0.1.0"}
    first = dr.build(night1, meta, None, datetime(2026, 11, 24, 3, tzinfo=timezone.utc))
    return dr.build(night2, meta, first, datetime(2026, 11, 27, 3, tzinfo=timezone.utc),
                    baseline_path="reports/drift/drift.json")


VISIBLE = ("Array.from(document.querySelectorAll('#findings tbody tr'))"
           ".filter(r => !r.hidden).map(r => [r.dataset.env, r.dataset.severity, r.dataset.check,"
           " r.dataset.status])")


def choose(page: Page, select: str, value: str) -> list[list[str]]:
    page.js(f"(() => {{ const s = document.getElementById('{select}');"
            f" s.value = {json.dumps(value)}; s.dispatchEvent(new Event('change')); }})()")
    return page.js(VISIBLE)


@pytest.fixture(scope="module")
def opened(browser, tmp_path_factory):
    path = tmp_path_factory.mktemp("drift") / "drift.html"
    path.write_text(drift_page.render(report_doc()), encoding="utf-8")
    url = path.as_uri()
    page = new_page(browser, {url})
    page.open(url)
    yield page
    page.close()


def test_renders_without_errors(opened):
    assert opened.js("document.title").startswith("Drift report 2026-11-27")
    assert opened.js("document.querySelector('h1').textContent") == "Drift report"
    assert opened.js("document.querySelectorAll('#findings tbody tr').length") == 7
    errors = [e for e in opened.events if e["method"] in ("Runtime.exceptionThrown",)]
    assert errors == []
    meta = opened.js("document.getElementById('meta').innerText")
    assert "12.3 s" in meta and "0.1.0" in meta and "app = main" in meta and "gitops = main" in meta


def test_matrix_has_one_cell_per_environment_and_check(opened):
    cells = opened.js("Array.from(document.querySelectorAll('#matrix td.cell'))"
                      ".map(td => [td.dataset.env, td.dataset.check, td.dataset.worst])")
    assert len(cells) == len(ENVS) * len(CHECKS) == 12
    assert sorted((env, check) for env, check, _ in cells) == sorted(
        (env, check) for env in ENVS for check in CHECKS)
    worst = {(env, check): w for env, check, w in cells}
    assert worst[("production", "test_image_present")] == "blocker"
    assert worst[("testing", "test_cert")] == "error"
    assert worst[("echo-next", "test_workloads_ready")] == "warning"
    assert worst[("testing", "test_settings_required")] == "waived"
    assert worst[("production", "test_settings_required")] == "passed"
    assert worst[("testing", "test_image_present")] == "skipped"
    assert worst[("echo-next", "test_settings_required")] == "passed"
    colours = opened.js("Object.fromEntries("
                        "Array.from(document.querySelectorAll('#matrix td.cell'))"
                        ".map(td => [td.dataset.env + '/' + td.dataset.check,"
                        " getComputedStyle(td).backgroundColor]))")
    assert colours["production/test_image_present"] == "rgb(215, 58, 73)"    # red
    assert colours["production/test_settings_required"] == "rgb(40, 167, 69)"  # green
    assert colours["testing/test_cert"] != colours["echo-next/test_workloads_ready"]


def test_filters_by_environment_severity_check_and_status(opened):
    rows = choose(opened, "f-env", "production")
    assert sorted(r[2] for r in rows) == ["test_cert", "test_image_present",
                                          "test_settings_required", "test_workloads_ready"]
    assert {r[0] for r in rows} == {"production"}
    rows = choose(opened, "f-severity", "blocker")
    assert sorted((r[2], r[3]) for r in rows) == [
        ("test_cert", "persisting"), ("test_image_present", "persisting"),
        ("test_settings_required", "resolved"), ("test_workloads_ready", "new")]
    rows = choose(opened, "f-check", "test_cert")
    assert rows == [["production", "blocker", "test_cert", "persisting"]]
    assert opened.js("document.getElementById('shown').textContent") == "1 of 7 shown"
    opened.js("document.getElementById('f-reset').click()")
    assert len(opened.js(VISIBLE)) == 7
    rows = choose(opened, "f-status", "new")
    assert sorted((r[0], r[2]) for r in rows) == [("echo-next", "test_workloads_ready"),
                                                  ("production", "test_workloads_ready"),
                                                  ("testing", "test_cert"),
                                                  ("testing", "test_settings_required")]
    rows = choose(opened, "f-status", "resolved")
    assert rows == [["production", "blocker", "test_settings_required", "resolved"]]
    opened.js("document.getElementById('f-reset').click()")


def test_matrix_cell_click_filters_the_table(opened):
    opened.js("document.querySelector('#matrix td.cell[data-env=\"testing\"]"
              "[data-check=\"test_cert\"]').click()")
    assert opened.js(VISIBLE) == [["testing", "error", "test_cert", "new"]]
    opened.js("document.getElementById('f-reset').click()")


def test_details_are_folded_per_finding(opened):
    assert opened.js("document.querySelectorAll('#findings details').length") == 7
    assert opened.js("document.querySelectorAll('#findings details[open]').length") == 0
    row = "#findings tr[data-env=production][data-check=test_image_present]"
    opened.js(f"document.querySelector('{row} summary').click()")
    assert opened.js("document.querySelectorAll('#findings details[open]').length") == 1
    assert '"tag": "abc1234"' in opened.js(
        "document.querySelector('#findings details[open] pre').textContent")


def test_no_request_leaves_the_page(opened):
    opened.settle()
    page_url = next(iter(opened.allowed))
    assert opened.requests == [page_url]
    assert opened.blocked == []
    # A URL mentioned in a finding's text is text, not a link; the one link is the file:line of
    # a source with a web_url, and nothing follows it by itself.
    assert opened.js("Array.from(document.querySelectorAll('a, img, link, iframe'))"
                     ".map(e => e.tagName + ' ' + e.getAttribute('href'))") == [f"A {LINK}"] * 2


def test_the_first_screen_says_what_changed_new_blocker_first(opened, tmp_path_factory):
    """Issue 28 item 5: a reader with two minutes sees, above the fold, the new blocker (full fix
    text, file:line linked), then what got resolved, then the causes; the run metadata is last."""
    opened.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1,
                mobile=False)
    opened.js("window.scrollTo(0, 0)")
    first = opened.js("(() => { const li = document.querySelector('#new li');"
                      " return [li.innerText, li.getBoundingClientRect().bottom]; })()")
    assert first[0].startswith("blocker production test_workloads_ready agent")
    assert "build and push agent:abc1234, then the pods start" in first[0]
    assert "gitops:helm/app/values-production.yaml:3" in first[0] and first[1] < 900
    order = opened.js("['changes', 'resolved', 'causes', 'matrix', 'findings', 'meta']"
                      ".map(id => document.getElementById(id).getBoundingClientRect().top)")
    assert order == sorted(order)
    groups = opened.js("Array.from(document.querySelectorAll('#causes .cause'))"
                       ".map(g => [g.dataset.key, g.querySelectorAll('li').length])")
    assert groups[0] == ["image:agent:abc1234", 2]  # the never-pushed image: two checks, one cause
    keep_screenshot(opened, tmp_path_factory, "drift-report-first-screen.png")
    opened.call("Emulation.clearDeviceMetricsOverride")


def keep_screenshot(page: Page, tmp_path_factory, name: str, **options) -> Path:
    """A PNG of the page in reports/artifacts/ (else a temporary folder), to look at."""
    shot = page.call("Page.captureScreenshot", format="png", **options)
    data = base64.b64decode(shot["data"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = ARTIFACTS / name
    except OSError:
        target = tmp_path_factory.mktemp("artifacts") / name
    target.write_bytes(data)
    return target


def test_screenshot_is_kept(opened, tmp_path_factory):
    opened.js("window.scrollTo(0, 0)")
    target = keep_screenshot(opened, tmp_path_factory, "drift-report.png",
                             captureBeyondViewport=True)
    print(f"drift.html screenshot: {target}")


class _Pixel(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server API)
        self.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_observer_sees_a_request_when_there_is_one(browser, tmp_path):
    """Control: a page that does fetch something is caught (and blocked) by the same observer."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pixel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        pixel = f"http://127.0.0.1:{server.server_port}/pixel.png"
        path = tmp_path / "leaky.html"
        path.write_text(f'<!DOCTYPE html><html><body><img src="{pixel}"></body></html>')
        page = new_page(browser, {path.as_uri()})
        try:
            page.open(path.as_uri())
            page.settle(0.5)
            assert pixel in page.requests and pixel in page.blocked
        finally:
            page.close()
        assert _Pixel.hits == []  # blocked before it reached the server
    finally:
        server.shutdown()
        server.server_close()
