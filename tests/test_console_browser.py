"""The staff console in a real browser (Debian's headless Chromium through the apt chromedriver, as in
tests/test_browser.py): a nurse signs in, sees the queue, claims a hand-off and watches a new triage call
and hand-off appear live (server-sent events, no reload) when the voice agent writes them through the
service's own paths; a doctor edits and signs a dictated note; the care-team lead opens a patient's trend
plot. Screenshots of every page are saved in the test's tmp folder. No models are loaded: the app is the
console plus the records API over a seeded demo store, served by uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from agent.records_api import build_records_router
from agent.triage_records import TriageCallRecorder
from backends.embedded import open_store
from console import Accounts, ConsoleSettings, mount_console, seed_demo
from console.demo import SERVICE

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "medvoice-demo-2026"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"browser test needs {', '.join(missing)}: run `make system` (apt chromium chromium-driver)")
    pytest.importorskip("selenium", reason="pip install -e '.[test]' (selenium drives the apt chromedriver)")
    import uvicorn

    root = tmp_path_factory.mktemp("console-browser")
    store = open_store(f"sqlite:///{root / 'db.sqlite'}", root / "keys.json", seed_days=1)
    app = FastAPI()
    app.include_router(build_records_router(store))
    # real argon2id at cheap parameters (the default profile takes ~1 s a verification on 2 busy cores)
    accounts = Accounts(store.engine, hasher=PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1))
    console = mount_console(app, store, ConsoleSettings(cookie_secure=False, poll_s=0.5), accounts=accounts)
    asyncio.run(seed_demo(store, console.accounts, PASSWORD))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = uv.servers[0].sockets[0].getsockname()[1]
    yield type("Server", (), {"url": f"http://127.0.0.1:{port}", "store": store, "loop": None})
    uv.should_exit = True
    thread.join(timeout=10)
    store.close()


def _driver(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--lang=zh-CN", f"--user-data-dir={profile}",
                 "--window-size=1280,800"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


def _wait(driver: Any, script: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    return driver.execute_script(script)


def _sign_in(driver: Any, url: str, username: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(url + "/console/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    assert _wait(driver, "return document.getElementById('who') !== null"), driver.page_source[:1000]


def _no_sideways_scroll(driver: Any) -> bool:
    return bool(driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_console_in_a_real_browser(server: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = _driver(tmp_path / "profile")
    try:
        # -- nurse: the queue, level 1 on top, claim a hand-off ----------------------------------
        _sign_in(driver, server.url, "nurse1")
        assert driver.current_url.endswith("/console/queue")
        badges = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#handoffs .badge")]
        assert badges[0] == "1级 濒危" and "2级 危重" in badges, badges
        assert "血压190/120" not in driver.page_source  # the other department's call
        assert _no_sideways_scroll(driver)
        driver.save_screenshot(str(tmp_path / "queue_nurse.png"))
        driver.find_element(By.CSS_SELECTOR, "#handoffs button.claim").click()
        assert _wait(driver, "return document.querySelector('#handoffs').textContent.includes('已由 陈静 认领')")

        # -- a new triage call and hand-off arrive while the page stays open ---------------------
        driver.execute_script("window.__stayed = true")
        assert _wait(driver, "return document.getElementById('live-status').textContent === '实时'")

        async def live_call() -> None:
            recorder = TriageCallRecorder(server.store, SERVICE, "browser-live-call")
            recorder.observe({"type": "transcript", "role": "caller", "text": "我爸爸突然说话不清楚，一边手没劲"})
            recorder.observe({"type": "state", "level": 1, "department": "急诊科", "reason": "疑似卒中",
                              "red_flags": ["stroke"], "handoff": None})
            await asyncio.sleep(0.5)
            await recorder.finish()

        asyncio.run(live_call())
        token = server.store.tokens.issue(SERVICE)
        response = httpx.post(server.url + "/consultation/handoffs", headers={"Authorization": f"Bearer {token}"},
                              json={"call_id": "browser-live-call", "flow": "triage", "summary": "分诊热线：疑似卒中（实时）",
                                    "level": 1, "red_flags": ["stroke"]})
        assert response.status_code == 201, response.text
        assert _wait(driver, "return document.body.textContent.includes('疑似卒中（实时）') && "
                             "document.body.textContent.includes('我爸爸突然说话不清楚')", 15), "no live update"
        assert driver.execute_script("return window.__stayed === true"), "the page reloaded"
        driver.save_screenshot(str(tmp_path / "queue_live.png"))
        driver.set_window_size(820, 1180)  # a tablet held upright
        assert _no_sideways_scroll(driver)
        driver.save_screenshot(str(tmp_path / "queue_tablet.png"))
        driver.set_window_size(1280, 800)

        # -- doctor: edit a section and sign the dictated note -----------------------------------
        _sign_in(driver, server.url, "doctor1")
        driver.find_element(By.CSS_SELECTOR, "#waiting a.note-link").click()
        assert _wait(driver, "return document.querySelectorAll('#dictation mark.corrected').length >= 2")
        driver.save_screenshot(str(tmp_path / "note_review.png"))
        chief = driver.find_element(By.CSS_SELECTOR, 'textarea[name="text"][aria-label="主诉"]')
        chief.clear()
        chief.send_keys("胸闷气短三天，加重半天。")
        chief.find_element(By.XPATH, "./following-sibling::button").click()
        assert _wait(driver, "return document.getElementById('history')?.textContent.includes('修改「主诉」')")
        driver.find_element(By.ID, "sign-note").click()
        assert _wait(driver, "return document.getElementById('note-status')?.textContent.includes('已签署')")
        assert "胸闷气短三天，加重半天。" in driver.find_element(By.ID, "section-1").text
        assert not driver.find_elements(By.CSS_SELECTOR, "textarea[name=text]")
        driver.save_screenshot(str(tmp_path / "note_signed.png"))

        # -- care-team lead: today's alert and a patient's trend plot -----------------------------
        _sign_in(driver, server.url, "lead1")
        assert "血压186/114（收缩压≥180 或 舒张压≥110）" in driver.find_element(By.ID, "alert-rows").text
        driver.save_screenshot(str(tmp_path / "followup.png"))
        driver.find_element(By.CSS_SELECTOR, "#alert-rows a.trend-link").click()
        assert _wait(driver, "return document.body.dataset.plotted === 'yes'")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#plot-bp canvas")) == 1
        assert driver.find_element(By.CSS_SELECTOR, "#plot-bp .u-legend").text.count("压") >= 2
        driver.save_screenshot(str(tmp_path / "trend.png"))
    finally:
        driver.quit()
    assert len(list(tmp_path.glob("*.png"))) == 7


def test_a_websocket_triage_call_appears_live_in_the_console(live_server: Any, speak: Any, tmp_path: Path) -> None:
    """The real service (real models): while a scripted caller says 我胸口疼，出了很多汗 over /ws/call, the
    emergency nurse's open queue shows the call live (no reload), then finished with its red flag."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"browser test needs {', '.join(missing)}")
    from selenium.webdriver.common.by import By

    from evals.ws_caller import call

    console = live_server.app.state.console
    nurse = console.accounts.add_user(user_id="nurse-emergency-ws", hospital_id="demo-hospital",
                                      department_id="dept-emergency", username="nurse-ws", display_name="林护士",
                                      role="nurse", password=PASSWORD)
    token, _ = console.accounts.open_session(nurse)
    driver = _driver(tmp_path / "profile")
    try:
        driver.get(live_server.url + "/console/login")
        # the service's cookies are Secure (it runs behind HTTPS); this test's http origin gets the session directly
        driver.add_cookie({"name": "medvoice_console", "value": token, "path": "/console", "httpOnly": True})
        driver.get(live_server.url + "/console/queue")
        assert _wait(driver, "return document.getElementById('live-status')?.textContent === '实时'"), driver.page_source[:500]
        driver.execute_script("window.__stayed = true")
        before = len(driver.find_elements(By.CSS_SELECTOR, "#calls li"))

        result: dict[str, Any] = {}
        caller = threading.Thread(target=lambda: result.update(done=asyncio.run(
            call(f"{live_server.ws}/ws/call?flow=triage", [speak("我胸口疼，出了很多汗。")]))))
        caller.start()
        live = _wait(driver, "return [...document.querySelectorAll('#calls li')].some(li => "
                             "li.textContent.includes('通话中') && li.textContent.includes('胸'))", 60)
        driver.save_screenshot(str(tmp_path / "queue_ws_call_live.png"))
        caller.join(timeout=90)
        assert live, "the WebSocket call never showed up live in the queue"
        assert driver.execute_script("return window.__stayed === true"), "the page reloaded"
        finished = _wait(driver, f"return document.querySelectorAll('#calls li').length > {before} && "
                                 "![...document.querySelectorAll('#calls li')].some(li => li.textContent.includes('通话中') "
                                 "&& li.textContent.includes('胸'))", 30)
        assert finished, "the call did not turn finished after hang-up"
        assert "疑似急性冠脉综合征" in driver.find_element(By.CSS_SELECTOR, "#calls").text
        driver.save_screenshot(str(tmp_path / "queue_ws_call_done.png"))
    finally:
        driver.quit()
