"""The staff console's access rules, one test each, over the real store, accounts and routes (FastAPI's
TestClient, no browser): sign-in, sessions, CSRF, departments, notes, escaping. Every refusal must
be audited with the user."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from backends import HandoffRequest, Principal
from backends.embedded import open_store
from backends.embedded.schema import audit_log
from console import Accounts, ConsoleSettings, mount_console
from console.demo import HOSPITAL, SERVICE, _patient, seed_demo
from dialogue.dictation.flow import composition
from dialogue.dictation.note import Note

PASSWORD = "medvoice-demo-2026"
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root: Path = tmp_path_factory.mktemp("console")
    store = open_store(f"sqlite:///{root / 'db.sqlite'}", root / "keys.json", seed_days=1)
    app = FastAPI()
    clock = Clock()
    # real argon2id at cheap parameters: the default profile takes ~1 s a verification on 2 busy cores
    accounts = Accounts(store.engine, session_ttl=timedelta(minutes=30), clock=clock, hasher=CHEAP_HASHER)
    console = mount_console(app, store, ConsoleSettings(cookie_secure=False, session_ttl=timedelta(minutes=30)),
                            accounts=accounts)
    asyncio.run(seed_demo(store, console.accounts, PASSWORD))
    # a second department's nurse and a second doctor of the first department
    console.accounts.add_user(user_id="nurse-cardiology-1", hospital_id=HOSPITAL, department_id="dept-cardiology",
                              username="nurse2", display_name="吴芳", role="nurse", password=PASSWORD)
    console.accounts.add_user(user_id="doc-emergency-2", hospital_id=HOSPITAL, department_id="dept-emergency",
                              username="doctor3", display_name="李秀英", role="doctor", password=PASSWORD)
    yield type("Env", (), {"store": store, "app": app, "console": console, "clock": clock})
    store.close()


def client(env: Any) -> TestClient:
    return TestClient(env.app, base_url="http://127.0.0.1", follow_redirects=False)


def sign_in(env: Any, username: str, password: str = PASSWORD) -> TestClient:
    c = client(env)
    page = c.get("/console/login")
    response = c.post("/console/login", data={"csrf_token": csrf(page.text), "hospital_id": HOSPITAL,
                                              "username": username, "password": password})
    assert response.status_code == 303, response.text
    return c


def csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, text[:500]
    return found.group(1)


def audited(env: Any, **where: str) -> list[Any]:
    with env.store.engine.connect() as conn:
        query = sa.select(audit_log)
        for column, value in where.items():
            query = query.where(audit_log.c[column] == value)
        return list(conn.execute(query))


async def _ticket(env: Any, department: str, summary: str = "分诊热线：胸痛") -> str:
    ticket: str = await env.store.request_handoff(SERVICE, HandoffRequest(
        call_id=f"test-{summary}", flow="triage", summary=summary, level=1, red_flags=("chest_pain_acs",),
        extra={"department": department}))
    return ticket


async def _note(env: Any, doctor: str, department: str, chief: str = "头痛两天。") -> dict[str, Any]:
    patient = await env.store.create(SERVICE, _patient("测试患者", "male", "1970-01-01", "13900009999", department))
    principal = Principal(doctor, "doctor", HOSPITAL, department)
    note = Note()
    note.dictate(f"主诉，{chief}")
    created: dict[str, Any] = await env.store.create(
        principal, composition(note, patient["id"], principal, None, transcript=[f"主诉，{chief}"]))
    return created


# -- sign-in -------------------------------------------------------------------------------------


def test_wrong_password_and_unknown_user_get_the_same_answer_and_are_audited(env: Any) -> None:
    c = client(env)
    answers = []
    for username, password in (("nurse1", "wrong-password!"), ("nobody", PASSWORD)):
        page = c.get("/console/login")
        response = c.post("/console/login", data={"csrf_token": csrf(page.text), "hospital_id": HOSPITAL,
                                                  "username": username, "password": password})
        assert response.status_code == 401 and "medvoice_console" not in response.cookies
        answers.append(re.search(r'id="login-error">([^<]+)<', response.text).group(1))
    assert answers[0] == answers[1] == "医院、用户名或密码不正确"
    assert audited(env, subject="login:nurse1", action="console_sign_in", outcome="denied")
    assert audited(env, subject="login:nobody", action="console_sign_in", outcome="denied")


def test_repeated_failures_slow_sign_in_down_and_success_resets(env: Any) -> None:
    accounts = env.console.accounts
    c = client(env)
    for _ in range(4):
        page = c.get("/console/login")
        c.post("/console/login", data={"csrf_token": csrf(page.text), "hospital_id": HOSPITAL,
                                       "username": "lead1", "password": "not-the-password"})
    known_delay = accounts.sign_in_delay(HOSPITAL, "lead1")
    assert known_delay >= 0.5
    assert len(audited(env, subject="login:lead1", outcome="denied")) >= 4
    sign_in(env, "lead1")  # waits the delay, then succeeds
    assert accounts.sign_in_delay(HOSPITAL, "lead1") == 0
    for _ in range(4):  # a name that does not exist slows down alike: the delay tells no names apart
        page = c.get("/console/login")
        c.post("/console/login", data={"csrf_token": csrf(page.text), "hospital_id": HOSPITAL,
                                       "username": "nobody-here", "password": "not-the-password"})
    assert accounts.sign_in_delay(HOSPITAL, "nobody-here") == known_delay


def test_passwords_are_stored_as_argon2id_hashes_only(env: Any) -> None:
    with env.store.engine.connect() as conn:
        hashes = list(conn.exec_driver_sql("SELECT password_hash FROM staff_users").scalars())
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_session_cookie_is_httponly_samesite_strict_and_secure_when_configured(env: Any, tmp_path: Path) -> None:
    page = client(env).get("/console/login")
    c = client(env)
    c.cookies.update(page.cookies)
    response = c.post("/console/login", data={"csrf_token": csrf(page.text), "hospital_id": HOSPITAL,
                                              "username": "nurse1", "password": PASSWORD})
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and "max-age=1800" in header
    assert "secure" not in header.replace("samesite", "")  # this app is configured for http://localhost
    secure_app = FastAPI()
    mount_console(secure_app, env.store, ConsoleSettings(), accounts=Accounts(env.store.engine, hasher=CHEAP_HASHER))
    secure = TestClient(secure_app, base_url="https://127.0.0.1", follow_redirects=False)
    page = secure.get("/console/login")
    response = secure.post("/console/login", data={"csrf_token": csrf(page.text), "hospital_id": HOSPITAL,
                                                   "username": "nurse1", "password": PASSWORD})
    assert "; secure" in response.headers["set-cookie"].lower()


def test_sessions_expire(env: Any) -> None:
    c = sign_in(env, "nurse1")
    assert c.get("/console/queue").status_code == 200
    env.clock.now += timedelta(minutes=31)
    try:
        response = c.get("/console/queue")
        assert response.status_code == 303 and response.headers["location"] == "/console/login"
        assert c.get("/console/queue/rows", headers={"HX-Request": "true"}).status_code == 401
    finally:
        env.clock.now -= timedelta(minutes=31)


def test_forged_and_signed_out_cookies_are_refused(env: Any) -> None:
    c = client(env)
    c.cookies.set("medvoice_console", "forged-token-value", domain="127.0.0.1", path="/console")
    assert c.get("/console/queue").status_code == 303
    signed_in = sign_in(env, "nurse1")
    token = signed_in.cookies.get("medvoice_console")
    page = signed_in.get("/console/queue")
    assert signed_in.post("/console/logout", data={"csrf_token": csrf(page.text)}).status_code == 303
    replay = client(env)
    replay.cookies.set("medvoice_console", token, domain="127.0.0.1", path="/console")
    assert replay.get("/console/queue").status_code == 303


def test_posts_without_the_csrf_token_are_refused_and_audited(env: Any) -> None:
    ticket = asyncio.run(_ticket(env, "急诊科", "分诊热线：CSRF"))
    c = sign_in(env, "nurse1")
    for data in ({}, {"csrf_token": "not-the-token"}):
        response = c.post(f"/console/handoffs/{ticket}/claim", data=data)
        assert response.status_code == 403 and "安全令牌" in response.text
    assert audited(env, subject="nurse-emergency-1", outcome="csrf_refused")
    queued = asyncio.run(env.store.handoff_queue(Principal("n", "department", HOSPITAL, "dept-emergency")))
    assert ticket in [t.ticket_id for t in queued]
    page = client(env).get("/console/login")  # the sign-in form has its own token
    response = client(env).post("/console/login", data={"csrf_token": csrf(page.text), "hospital_id": HOSPITAL,
                                                         "username": "nurse1", "password": PASSWORD})
    assert response.status_code == 403


# -- departments ------------------------------------------------------------------------------


def test_nurse_does_not_list_another_departments_calls_or_handoffs(env: Any) -> None:
    cardiology = asyncio.run(_ticket(env, "心血管内科", "分诊热线：心内科专用"))
    emergency_page = sign_in(env, "nurse1").get("/console/queue").text
    assert cardiology not in emergency_page and "心内科专用" not in emergency_page
    assert "血压190/120" not in emergency_page  # the demo's cardiology call
    assert "胸痛伴大汗" in emergency_page  # the demo's emergency call
    cardiology_page = sign_in(env, "nurse2").get("/console/queue").text
    assert cardiology in cardiology_page and "血压190/120" in cardiology_page


def test_nurse_cannot_open_or_act_on_another_departments_call_handoff_or_note(env: Any) -> None:
    ticket = asyncio.run(_ticket(env, "心血管内科", "分诊热线：他科"))
    note = asyncio.run(_note(env, "doc-cardiology-1", "dept-cardiology"))
    cardiology_calls = [r for r in asyncio.run(env.store.list_recent(
        Principal("x", "department", HOSPITAL, "dept-cardiology"), "Encounter", 100))
        if r.get("type", [{}])[0].get("text") == "分诊热线"]
    c = sign_in(env, "nurse1")
    page = c.get("/console/queue")
    token = csrf(page.text)
    response = c.get(f"/console/calls/{cardiology_calls[0]['id']}")
    assert response.status_code == 403 and "审计" in response.text
    assert c.post(f"/console/handoffs/{ticket}/claim", data={"csrf_token": token}).status_code == 403
    assert audited(env, subject="nurse-emergency-1", action="handoff_read", target=f"Handoff/{ticket}",
                   outcome="denied")
    assert audited(env, subject="nurse-emergency-1", action="read",
                   target=f"Encounter/{cardiology_calls[0]['id']}", outcome="denied")
    # notes are not a nurse's to open at all; a doctor of the other department is refused by the records
    assert c.get(f"/console/notes/{note['id']}").status_code == 403
    assert audited(env, subject="nurse-emergency-1", action="console_notes", outcome="denied")
    doctor = sign_in(env, "doctor1")
    assert doctor.get(f"/console/notes/{note['id']}").status_code == 403
    assert audited(env, subject="doc-emergency-1", action="read", target=f"Composition/{note['id']}",
                   outcome="denied")
    assert note["id"] not in doctor.get("/console/notes").text


def test_nurse_claims_calls_back_and_closes_a_handoff_of_her_department(env: Any) -> None:
    ticket = asyncio.run(_ticket(env, "急诊科", "分诊热线：流程"))
    c = sign_in(env, "nurse1")
    token = csrf(c.get("/console/queue").text)
    hx = {"HX-Request": "true", "X-CSRF-Token": token}
    claimed = c.post(f"/console/handoffs/{ticket}/claim", headers=hx)
    assert claimed.status_code == 200 and "已由 陈静 认领" in claimed.text
    other = sign_in(env, "doctor1")
    other_token = csrf(other.get("/console/queue").text)
    refused = other.post(f"/console/handoffs/{ticket}/close", data={"csrf_token": other_token, "outcome": "x"})
    assert refused.status_code == 403  # only the claimant closes
    taken = other.post(f"/console/handoffs/{ticket}/claim", data={"csrf_token": other_token})
    assert taken.status_code == 409 and "已由 陈静 认领" in taken.text
    assert c.post(f"/console/handoffs/{ticket}/callback", headers=hx,
                  data={"result": "reached", "note": "已嘱拨打120"}).status_code == 200
    closed = c.post(f"/console/handoffs/{ticket}/close", headers=hx, data={"outcome": "患者已由120送医"})
    assert closed.status_code == 200 and "患者已由120送医" in closed.text
    ticket_now = asyncio.run(env.store.handoff(Principal("n", "department", HOSPITAL, "dept-emergency"), ticket))
    assert ticket_now.status == "closed" and [h["action"] for h in ticket_now.history] == ["callback", "close"]
    assert audited(env, subject="nurse-emergency-1", action="handoff_close", target=f"Handoff/{ticket}")


def test_tampered_ids_are_not_found(env: Any) -> None:
    c = sign_in(env, "doctor1")
    token = csrf(c.get("/console/notes").text)
    for path in ("/console/notes/..%2F..%2Fetc", "/console/notes/<script>", "/console/calls/" + "a" * 65):
        assert c.get(path).status_code == 404
    assert c.post("/console/handoffs/00000000000000000000000000000000/claim",
                  data={"csrf_token": token}).status_code == 404


# -- notes ------------------------------------------------------------------------------------


def _note_form(c: TestClient, note_id: str) -> tuple[str, str]:
    page = c.get(f"/console/notes/{note_id}").text
    return csrf(page), re.search(r'name="version" value="(\d+)"', page).group(1)


def test_doctor_edits_and_signs_own_note_which_then_is_read_only_with_history(env: Any) -> None:
    note = asyncio.run(_note(env, "doc-emergency-1", "dept-emergency", "胸闷一天。"))
    c = sign_in(env, "doctor1")
    token, version = _note_form(c, note["id"])
    saved = c.post(f"/console/notes/{note['id']}/section",
                   data={"csrf_token": token, "version": version, "section": "主诉", "text": "胸闷一天，加重两小时。"})
    assert saved.status_code == 303
    token, version = _note_form(c, note["id"])
    assert c.post(f"/console/notes/{note['id']}/sign", data={"csrf_token": token, "version": version}).status_code == 303
    signed = asyncio.run(env.store.read(Principal("doc-emergency-1", "doctor", HOSPITAL, "dept-emergency"),
                                        "Composition", note["id"]))
    assert signed["status"] == "final" and signed["attester"][0]["party"]["reference"] == "Practitioner/doc-emergency-1"
    assert "胸闷一天，加重两小时。" in signed["section"][0]["text"]["div"]
    page = c.get(f"/console/notes/{note['id']}").text
    assert "已签署 · 只读" in page and "<textarea" not in page and "胸闷一天。" in page  # history keeps the old text
    refused = c.post(f"/console/notes/{note['id']}/section",
                     data={"csrf_token": token, "version": str(int(version) + 1), "section": "主诉", "text": "改"})
    assert refused.status_code == 403
    assert audited(env, subject="doc-emergency-1", action="update", target=f"Composition/{note['id']}",
                   outcome="denied")


def test_doctor_cannot_sign_another_doctors_note(env: Any) -> None:
    note = asyncio.run(_note(env, "doc-emergency-1", "dept-emergency"))
    c = sign_in(env, "doctor3")  # same department, another doctor
    page = c.get(f"/console/notes/{note['id']}").text
    assert "sign-note" not in page  # no button
    response = c.post(f"/console/notes/{note['id']}/sign", data={"csrf_token": csrf(page), "version": "1"})
    assert response.status_code == 403
    assert audited(env, subject="doc-emergency-2", action="update", target=f"Composition/{note['id']}",
                   outcome="denied")


def test_concurrent_edits_second_save_is_refused_and_its_text_kept(env: Any) -> None:
    note = asyncio.run(_note(env, "doc-emergency-1", "dept-emergency"))
    first, second = sign_in(env, "doctor1"), sign_in(env, "doctor1")  # two tabs / two devices
    token1, version1 = _note_form(first, note["id"])
    token2, version2 = _note_form(second, note["id"])
    assert first.post(f"/console/notes/{note['id']}/section", data={
        "csrf_token": token1, "version": version1, "section": "主诉", "text": "第一位的修改"}).status_code == 303
    late = second.post(f"/console/notes/{note['id']}/section", data={
        "csrf_token": token2, "version": version2, "section": "主诉", "text": "第二位的修改"})
    assert late.status_code == 409 and "已被他人修改" in late.text and "第二位的修改" in late.text
    stored = asyncio.run(env.store.read(Principal("doc-emergency-1", "doctor", HOSPITAL, "dept-emergency"),
                                        "Composition", note["id"]))
    assert "第一位的修改" in stored["section"][0]["text"]["div"]


def test_html_and_script_in_any_field_are_escaped(env: Any) -> None:
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    asyncio.run(_ticket(env, "急诊科", f"分诊热线：{evil}"))
    note = asyncio.run(_note(env, "doc-emergency-1", "dept-emergency", evil))
    page = sign_in(env, "doctor1")
    for text in (page.get("/console/queue").text, page.get(f"/console/notes/{note['id']}").text):
        assert "<script>alert" not in text and "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "script-src 'self'" in page.get("/console/queue").headers["content-security-policy"]


def test_every_console_view_is_audited_with_the_user(env: Any) -> None:
    before = len(audited(env, subject="lead-cardiology-1", action="console_view"))
    c = sign_in(env, "lead1")
    c.get("/console/followup")
    c.get("/console/queue")
    assert len(audited(env, subject="lead-cardiology-1", action="console_view")) == before + 2
    assert env.store.verify_audit_sync().intact


def test_lead_sees_progress_alert_rule_and_trend_and_records_an_action(env: Any) -> None:
    c = sign_in(env, "lead1")
    page = c.get("/console/followup").text
    assert "血压186/114（收缩压≥180 或 舒张压≥110）" in page and "今日" in page
    patient_id = re.search(r'/console/followup/patients/([0-9a-f]{32})" class="trend-link">王秀兰', page).group(1)
    trend = c.get(f"/console/followup/patients/{patient_id}").text
    assert '"systolic": [152.0, 146.0, 158.0, 186.0]' in trend and '"adherence": [1, 2, 1, 0]' in trend
    encounter = re.search(r'/console/followup/alerts/([0-9a-f]{32})/action', page).group(1)
    version = re.search(rf'alerts/{encounter}/action">\s*<input type="hidden" name="csrf_token" value="[^"]+">\s*'
                        r'<input type="hidden" name="version" value="(\d+)"', page).group(1)
    done = c.post(f"/console/followup/alerts/{encounter}/action",
                  data={"csrf_token": csrf(page), "version": version, "action": "已电话通知今日来院"})
    assert done.status_code == 303 and "已电话通知今日来院" in c.get("/console/followup").text
    # the team's campaign schedule (the outbound dialler's table) shows beside the records' progress
    from backends.embedded import CampaignSchedule

    CampaignSchedule(env.store).schedule_visits(HOSPITAL, f"{HOSPITAL}|department|dept-cardiology",
                                                [(patient_id, "hypertension", datetime.now(UTC).date())], datetime.now(UTC))
    schedule = re.search(r'<table class="progress" id="schedule">(.*?)</table>', c.get("/console/followup").text, re.S)
    assert schedule and "待拨打" in schedule.group(1) and "<td>1</td>" in schedule.group(1)
    csv_text = c.get("/console/followup/summary.csv").text
    assert csv_text.startswith("\ufeffpatient_id,program") and "已电话通知今日来院" in csv_text
    # a nurse sees follow-up but may not act on alerts
    nurse = sign_in(env, "nurse2")
    nurse_page = nurse.get("/console/followup").text
    assert nurse.post(f"/console/followup/alerts/{encounter}/action",
                      data={"csrf_token": csrf(nurse_page), "version": "2", "action": "x"}).status_code == 403


def test_tampered_form_fields_are_refused(env: Any) -> None:
    note = asyncio.run(_note(env, "doc-emergency-1", "dept-emergency"))
    ticket = asyncio.run(_ticket(env, "急诊科", "分诊热线：表单"))
    c = sign_in(env, "doctor1")
    token, version = _note_form(c, note["id"])
    for data in ({"version": "abc", "section": "主诉", "text": "x"},
                 {"version": version, "section": "<script>", "text": "x"},
                 {"version": version, "section": "不存在的段落", "text": "x"}):
        assert c.post(f"/console/notes/{note['id']}/section", data={"csrf_token": token, **data}).status_code == 400
    assert c.post(f"/console/handoffs/{ticket}/claim", data={"csrf_token": token}).status_code == 303
    assert c.post(f"/console/handoffs/{ticket}/callback",
                  data={"csrf_token": token, "result": "hacked"}).status_code == 400
    assert c.post(f"/console/handoffs/{ticket}/close", data={"csrf_token": token, "outcome": "  "}).status_code == 400
    too_long = c.post(f"/console/notes/{note['id']}/section",
                      data={"csrf_token": token, "version": version, "section": "主诉", "text": "长" * 300_000})
    assert too_long.status_code == 413


def test_a_patient_name_with_markup_is_text_on_the_follow_up_and_trend_pages(env: Any) -> None:
    from dialogue.followup.records import encounter

    evil = '</script><script>alert("x")</script>'
    lead = Principal("lead-cardiology-1", "department", HOSPITAL, "dept-cardiology")

    async def write() -> str:
        patient = await env.store.create(lead, _patient(evil, "male", "1950-01-01", "13900008888", "dept-cardiology"))
        now = datetime.now(UTC)
        await env.store.create(lead, encounter(patient["id"], "hypertension", now, now, {
            "outcome": "completed", "alert": False, "streak": 0, "action": "routine", "next_due": "2027-01-01"}))
        return str(patient["id"])

    patient_id = asyncio.run(write())
    c = sign_in(env, "lead1")
    for page in (c.get("/console/followup").text, c.get(f"/console/followup/patients/{patient_id}").text):
        assert '<script>alert("x")' not in page and "&lt;script&gt;alert(" in page
