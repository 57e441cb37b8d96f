"""The LLM plug-in: output guard, slot validation, fallbacks, and the real OpenAI-compatible path.

Tests marked ``llm`` run against a real llama.cpp server serving the pip-shipped Gemma 3 270M (a weak
base model: most of what it says must be discarded). Scripted streams (``httpx.MockTransport``) are
used only where the real model cannot be made to say a specific unsafe thing on demand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dialogue import create_dialogue
from dialogue.engine import split_sentences
from dialogue.llm import LLMError, LLMSettings, OpenAICompatibleClient, OutputGuard
from dialogue.llm.local_server import LocalServerUnavailable, free_port, local_server
from dialogue.triage.llm import LLMPlugin, validate_proposal

MODEL_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "models"
QUESTION = "这种情况是从什么时候开始的？"
GUARD = OutputGuard.load()


def _scripted(*chunks: str, status: int = 200) -> LLMPlugin:
    """A plug-in whose server streams ``chunks`` as SSE deltas (scripted: see the module docstring)."""
    def handler(request: httpx.Request) -> httpx.Response:
        events = [{"choices": [{"delta": {"content": chunk}}]} for chunk in chunks]
        body = "".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events) + "data: [DONE]\n\n"
        return httpx.Response(status, text=body, headers={"content-type": "text/event-stream"})

    settings = LLMSettings(base_url="http://llm.test/v1", timeout_s=2.0)
    return LLMPlugin(settings, OpenAICompatibleClient(settings, transport=httpx.MockTransport(handler)))


async def _phrase(plugin: LLMPlugin, text: str = QUESTION) -> list[str]:
    return [sentence async for sentence in plugin.phrase(text, {})]


# -- guard and validation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("您这是得了急性胃炎。", "diagnosis"),
        ("可能是心梗，要注意。", "diagnosis"),
        ("您先吃点布洛芬吧。", "drug_advice"),
        ("没关系，在家观察就好。", "reassurance"),
        ("When did it start?", "not_mandarin"),
        ("请问" * 40 + "？", "too_long"),
        ("。", "empty"),
    ],
)
def test_guard_rejects_unsafe_sentences(sentence: str, reason: str) -> None:
    assert GUARD.unsafe_reason(sentence) == reason


def test_guard_accepts_a_plain_question_that_keeps_its_meaning() -> None:
    candidate = "这种不舒服大概是哪天开始的？"
    assert GUARD.unsafe_reason(candidate) is None
    assert GUARD.keeps_meaning(QUESTION, candidate)
    assert not GUARD.keeps_meaning(QUESTION, "您今年多大年纪了？")
    assert not GUARD.keeps_meaning(QUESTION, "是从什么时候开始的。")  # no longer a question


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"complaint": "肚子疼", "onset": "两天了", "severity": 7, "urgency": 3}',
         {"complaints": ("abdominal_pain",), "onset": "两天了", "severity": 7, "urgency": 3, "rejected": ()}),
        ('好的 {"complaint": "火星人", "severity": 12, "urgency": "high"}',
         {"complaints": (), "onset": None, "severity": None, "urgency": None,
          "rejected": ("complaint", "severity", "urgency")}),
        ('{"complaint": "头疼", "onset": "我也不知道怎么说这个事情啊", "severity": 3.5}',
         {"complaints": ("headache",), "onset": None, "severity": None, "urgency": None,
          "rejected": ("onset", "severity")}),
    ],
)
def test_slot_proposals_keep_only_valid_values(answer: str, expected: dict) -> None:
    proposal = validate_proposal(answer)
    assert proposal is not None
    assert {k: getattr(proposal, k) for k in expected} == expected


@pytest.mark.parametrize("answer", ["", "no json here", "[1, 2]", "{not json}"])
def test_unparseable_proposals_are_discarded(answer: str) -> None:
    assert validate_proposal(answer) is None


def test_settings_reject_bad_values_with_the_value_in_the_message() -> None:
    with pytest.raises(ValueError, match="'localhost:8080'"):
        LLMSettings(base_url="localhost:8080")
    assert LLMSettings(base_url="http://h:1").chat_url == "http://h:1/v1/chat/completions"


# -- fallbacks on scripted streams -----------------------------------------------------------------
async def test_safe_rewording_is_used_and_generation_stops_after_the_question() -> None:
    plugin = _scripted("这种不舒服", "大概是哪天开始的？", "您先吃点布洛芬。")
    assert await _phrase(plugin) == ["这种不舒服大概是哪天开始的？"]
    assert plugin.stats["phrase_used"] == 1


@pytest.mark.parametrize(
    ("chunks", "reason"),
    [
        (("您这是得了胃炎。", "什么时候开始的？"), "diagnosis"),
        (("先吃点止痛药吧。",), "drug_advice"),
        (("不要紧的，", "在家观察就好。"), "reassurance"),
        (("好的。", "您好。", "谢谢。"), "meaning"),
    ],
)
async def test_unsafe_or_off_meaning_output_falls_back_to_the_rules(chunks: tuple[str, ...], reason: str) -> None:
    plugin = _scripted(*chunks)
    assert await _phrase(plugin) == split_sentences(QUESTION)
    assert plugin.stats[f"phrase_rejected_{reason}"] == 1


async def test_http_error_falls_back_to_the_rules() -> None:
    plugin = _scripted("随便", status=503)
    assert await _phrase(plugin) == [QUESTION]
    assert plugin.stats["phrase_error"] == 1


async def test_a_proposal_less_urgent_than_the_rules_is_dropped() -> None:
    plugin = _scripted('{"complaint": "胸口疼", "urgency": 4}')
    assert await plugin.extract("胸口疼得厉害", rules_level=2) is None
    assert plugin.stats["extract_lower_urgency"] == 1


async def test_llm_complaint_fills_what_the_lexicon_missed_but_never_lowers() -> None:
    plugin = _scripted('{"complaint": "咳嗽", "urgency": 3}')
    dialogue = create_dialogue("triage", llm=plugin, call_id="llm-fill")
    async for _ in dialogue.open():
        pass
    async for _ in dialogue.handle("我这个嗓子眼儿一直刺挠，老想吭吭"):
        pass
    assert "咳嗽" in dialogue.snapshot()["slots"]["complaints"]


async def test_emergency_wording_never_goes_through_the_llm() -> None:
    plugin = _scripted("没事的，", "休息一下就好。")
    dialogue = create_dialogue("triage", llm=plugin, call_id="llm-emergency")
    async for _ in dialogue.open():
        pass
    replies = [r async for r in dialogue.handle("我胸口疼，出冷汗")]
    assert "120" in replies[0].text
    assert not any("没事" in r.text for r in replies)


# -- the real local server -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    try:
        with local_server(MODEL_CACHE, threads=2) as url:
            yield url
    except LocalServerUnavailable as error:
        pytest.skip(f"LOCAL LLM SERVER UNAVAILABLE (install the 'llm' extra): {error}")


@pytest.mark.llm
async def test_real_server_streams_deltas(llm_url: str) -> None:
    client = OpenAICompatibleClient(LLMSettings(base_url=llm_url, timeout_s=60, max_tokens=8))
    try:
        deltas = [d async for d in client.stream_chat([{"role": "user", "content": "你好"}])]
    finally:
        await client.aclose()
    assert deltas and all(isinstance(d, str) for d in deltas)


@pytest.mark.llm
async def test_real_weak_model_output_is_spoken_only_if_safe(llm_url: str) -> None:
    plugin = LLMPlugin(LLMSettings(base_url=llm_url, timeout_s=60, max_tokens=48))
    try:
        for text in (QUESTION, "如果零分是完全不疼，十分是最疼，现在大概几分？"):
            sentences = await _phrase(plugin, text)
            if sentences != split_sentences(text):
                assert all(GUARD.unsafe_reason(s) is None for s in sentences)
                assert GUARD.keeps_meaning(text, sentences[-1])
    finally:
        await plugin.aclose()
    assert sum(plugin.stats.values()) == 2


@pytest.mark.llm
async def test_real_server_too_slow_falls_back(llm_url: str) -> None:
    plugin = LLMPlugin(LLMSettings(base_url=llm_url, timeout_s=0.01))
    try:
        assert await _phrase(plugin) == [QUESTION]
        assert await plugin.extract("肚子疼", rules_level=3) is None
    finally:
        await plugin.aclose()
    assert plugin.stats["phrase_timeout"] == 1 and plugin.stats["extract_timeout"] == 1


@pytest.mark.llm
async def test_real_server_extraction_is_validated_or_dropped(llm_url: str) -> None:
    plugin = LLMPlugin(LLMSettings(base_url=llm_url, timeout_s=60, max_tokens=64))
    try:
        proposal = await plugin.extract("我肚子疼了两天，疼得有七分", rules_level=3)
    finally:
        await plugin.aclose()
    if proposal is not None:
        assert proposal.urgency is None or proposal.urgency <= 3
        assert proposal.severity is None or 0 <= proposal.severity <= 10


@pytest.mark.llm
async def test_triage_call_with_the_real_llm_keeps_the_rules_decision(llm_url: str) -> None:
    plugin = LLMPlugin(LLMSettings(base_url=llm_url, timeout_s=20, max_tokens=48))
    outcomes = []
    try:
        for llm in (None, plugin):
            dialogue = create_dialogue("triage", llm=llm, call_id="same")
            async for _ in dialogue.open():
                pass
            for turn in ("嗓子疼，流鼻涕，没发烧", "两天了", "没有了"):
                async for reply in dialogue.handle(turn):
                    assert GUARD.unsafe_reason(reply.text) in (None, "too_long")
            outcomes.append((dialogue.snapshot()["level"], dialogue.snapshot()["red_flags"]))
    finally:
        await plugin.aclose()
    assert outcomes[1][0] <= outcomes[0][0]
    assert outcomes[0][1] == outcomes[1][1] == []


async def test_unreachable_server_falls_back() -> None:
    plugin = LLMPlugin(LLMSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", timeout_s=2))
    try:
        assert await _phrase(plugin) == [QUESTION]
        with pytest.raises(LLMError, match="unreachable"):
            await plugin.client.complete([{"role": "user", "content": "你好"}])
    finally:
        await plugin.aclose()
    assert plugin.stats["phrase_error"] == 1
