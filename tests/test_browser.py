"""End to end in a real browser: Debian's headless Chromium opens the page, picks 分诊, calls with a
fake microphone that plays rendered Mandarin, and must show captions and receive the agent's audio.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``make system`` installs both with apt;
a browser is never downloaded). The screenshot is saved under ``evals/out/browser/``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from evals.netloss.network import ensure_host_address

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT_DIR = Path(__file__).resolve().parent.parent / "evals" / "out" / "browser"
CHEST_PAIN = "我胸口疼，出了很多汗。"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser_ready() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"browser test needs {', '.join(missing)}: run `make system` (apt chromium chromium-driver)")
    pytest.importorskip("selenium", reason="pip install -e '.[test]' (selenium drives the apt chromedriver)")
    try:
        ensure_host_address()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"WebRTC needs a non-loopback interface: {exc}")


def _driver(fake_mic: Path, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_mic}", "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={profile}", "--window-size=1280,1100",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


def _events(driver) -> str:
    """The call's events as the page got them, without the bulky state snapshots (failure messages)."""
    return driver.execute_script(
        "return JSON.stringify(window.medvoice.events.map(e => e.type === 'state' ? "
        "{type: 'state', level: e.level, red_flags: e.red_flags} : e))"
    )


def _wait(driver, script: str, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.25)
    return driver.execute_script(script)


def test_browser_triage_call_shows_captions_and_plays_agent_audio(browser_ready, live_server, speak, tmp_path):
    from selenium.webdriver.common.by import By

    # Chromium loops the file: quiet while the greeting plays, then the complaint, then quiet.
    silence = np.zeros(16000 * 7, np.int16)
    fake_mic = tmp_path / "caller.wav"
    sf.write(fake_mic, np.concatenate([silence, speak(CHEST_PAIN), silence, silence]), 16000, subtype="PCM_16")
    driver = _driver(fake_mic, tmp_path / "profile")
    try:
        driver.get(live_server.url + "/")
        assert driver.title.startswith("医声")
        # Follow-up and dictation ask who the call is for (programme, patient, token); triage does not.
        driver.find_element(By.CSS_SELECTOR, 'input[name="flow"][value="followup"]').click()
        assert driver.find_element(By.ID, "token").is_displayed() and driver.find_element(By.ID, "program").is_displayed()
        driver.find_element(By.CSS_SELECTOR, 'input[name="flow"][value="dictation"]').click()
        assert driver.find_element(By.ID, "encounter").is_displayed() and not driver.find_element(By.ID, "program").is_displayed()
        driver.find_element(By.CSS_SELECTOR, 'input[name="flow"][value="triage"]').click()
        assert not driver.find_element(By.ID, "token").is_displayed()
        driver.find_element(By.ID, "headset").click()
        driver.find_element(By.ID, "call-button").click()

        agent_line = _wait(driver, "return document.querySelector('#captions li.agent')?.textContent", 40)
        assert agent_line and agent_line.startswith("助理："), driver.find_element(By.ID, "status").text
        caller_line = _wait(driver, "return document.querySelector('#captions li.caller')?.textContent", 60)
        assert caller_line and "胸" in caller_line, _events(driver)
        # The triage panel follows the flow state (red flags when the recogniser heard the symptom).
        answered = _wait(driver, "return document.querySelectorAll('#captions li.agent').length > 2 && "
                                 "window.medvoice.events.filter(e => e.type === 'state').length > 3", 30)
        assert answered, _events(driver)
        flags = driver.execute_script(
            "return window.medvoice.events.filter(e => e.type === 'state').at(-1).red_flags || []")
        shown = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#red-flags li.alert")]
        assert len(shown) == len(flags) and all(code in text for code, text in zip(flags, shown, strict=True))
        if flags:
            assert driver.find_element(By.ID, "triage-level").text in ("1 级", "2 级"), _events(driver)
        stats = driver.execute_async_script("agentAudioStats().then(arguments[arguments.length - 1])")
        assert stats["packetsReceived"] > 100, stats
        assert stats["totalAudioEnergy"] > 0, stats

        timing_row = _wait(driver, "return document.querySelector('#timings tbody tr')?.textContent", 15)
        assert timing_row, "no per-turn timings on the page"
        # the summary table fills from /metrics.json, which the page polls after the per-turn row
        first_stage = _wait(driver, "return document.querySelector('#timing-summary tbody td')?.textContent", 15)
        assert first_stage == "转写完成"

        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOT_DIR / "triage_call.png"
        driver.save_screenshot(str(shot))
        shutil.copy(shot, tmp_path / shot.name)

        driver.find_element(By.ID, "hangup-button").click()
        assert _wait(driver, "return document.getElementById('status').textContent === '已挂断'", 5)
    finally:
        driver.quit()
    deadline = time.monotonic() + 20
    while live_server.app.state.webrtc.active_peers or live_server.app.state.sessions.active:
        assert time.monotonic() < deadline, "the browser call outlived its hang-up"
        time.sleep(0.1)
