"""Values said in words: how long something has lasted, and what a home device showed.

Durations ("快半个钟头了", "一上午", "前后得有二十分钟", "从昨天晚上开始") become minutes; device
readings ("血氧仪才八十几", "血糖仪显示二点几", "显示HI") become values or off-scale flags. Each
reader yields ``(concept id, start, end, value)``; the matcher turns them into mentions.
Approximate numbers are read at their middle (八十几 → 85, 二点几 → 2.5): a band that straddles a
threshold is resolved towards the emergency by the thresholds chosen in the rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import cn2an

_DIGITS = "零〇一二两三四五六七八九"
_NUM = rf"(?:\d+(?:\.\d+)?|[{_DIGITS}十]*几十?|[{_DIGITS}十百]+(?:点[{_DIGITS}几]+)?|[一二三四五六七八九]?十来|小半|大半|好几|半)"
_MINUTES_PER = {"分钟": 1, "分": 1, "钟头": 60, "个钟": 60, "小时": 60, "点钟": 60, "天": 1440, "日": 1440,
                "宿": 720, "夜": 720, "周": 10080, "星期": 10080, "礼拜": 10080, "月": 43200, "年": 525600}
_SPAN = re.compile(
    rf"(?P<num>{_NUM})(?:个)?(?P<half>半)?(?:多)?(?P<unit>分钟|钟头|个钟|小时|点钟|天|日|宿|夜|周|星期|礼拜|月|年)"
    rf"(?P<half2>半)?"
)
# Part-of-day spans and open-ended ones: 一上午, 一整天, 一晚上, 从昨天开始, 好半天, 老半天.
_WORD_SPANS: tuple[tuple[str, float], ...] = (
    (r"一?整(?:天|宿|夜|晚)", 720), (r"一(?:上午|下午|早上|晚上|夜|宿|天|早晨)", 180),
    (r"(?:好|老)?半天", 60), (r"一刻钟", 15), (r"三刻钟", 45), (r"好久|老长时间|很久|好长时间|大半天|好一阵子?|老半天", 30),
    (r"从?(?:昨天|昨晚|昨儿|前天|早上|早晨|上午|中午|下午|晚上|半夜|夜里|凌晨)(?:[^，。,；;]{0,6})?(?:开始|起|到现在|就)", 120),
)
_WORD_SPAN = re.compile("|".join(f"(?:{pattern})" for pattern, _ in _WORD_SPANS))
_SPAN_NOT_DURATION = re.compile(r"[前后以之]|岁|大|的(?:孩子|宝宝)")

_SPO2 = re.compile(rf"(?:血氧(?:饱和度)?|氧饱和度|饱和度|氧饱|指夹|测氧|夹手指(?:头)?的(?:那个)?)(?:仪|计)?[^，。,；;0-9{_DIGITS}]{{0,6}}?(?:百分之)?(?P<num>{_NUM})(?:%|多)?")
_HEART_RATE = re.compile(
    rf"(?:心跳|心率|脉搏|脉)[^，。,；;0-9{_DIGITS}]{{0,6}}?(?:一分钟|每分钟|一分)?(?:才|有|只有|都)?(?P<num>{_NUM})(?P<more>多|几)?(?:下|次)?(?!\s*(?:天|年|岁|月|周|小时|度|分钟|分|秒|个))"
)
_COUNTER_AFTER = r"(?!\s*(?:年|个月|月|天|次|回|下|遍|顿|岁|周|星期|小时|分钟|片|粒|斤|块|点钟|个|度|倍))"
_GLUCOSE = re.compile(rf"(?:血[糖堂唐塘]|测糖|糖)(?:仪|值)?[^，。,；;0-9{_DIGITS}十]{{0,6}}?(?P<num>{_NUM}){_COUNTER_AFTER}")
# A value measured without naming it ("测出来十七"), read as glucose when glucose was just spoken of.
# The name, a pause, then the value: "测了一下血糖，三点六".
_GLUCOSE_NEXT = re.compile(rf"(?:血[糖堂唐塘]|测糖)(?:仪)?[^，。,；;]{{0,6}}[，,]\s*(?:是|有|才|大概)?(?P<num>{_NUM})(?=$|[，。,；;\s]|左右|多|吧|啊)")
_MEASURED = re.compile(rf"(?:测出来|测了个|测了一下|测的是|测得|测了|显示)(?:是|有|才|只有)?(?P<num>{_NUM}){_COUNTER_AFTER}")
_GLUCOSE_CONTEXT = re.compile(r"血[糖堂唐塘]|糖尿病|测糖|胰岛素|降糖|一型糖|二型糖")
_GLUCOSE_CONTEXT_WINDOW = 24
_SINGLE_CHINESE_NUMERAL = re.compile(rf"[{_DIGITS}十几半]")
_GLUCOSE_OFF_SCALE = re.compile(r"(?:血[糖堂唐塘]|测糖)(?:仪)?[^，。,；;]{0,6}?(?P<what>HI|Hi|hi|LO|Lo|lo|爆表|测不出|测不到|显示不出|读不出|报错|错误|E\d|Err|ERR|乱码|高得测不出|低得测不出|超出范围|超范围|超出量程|超量程|测不了)")


_RANGE_DIGITS = "一二三四五六七八九"
_NEIGHBOURS = re.compile("一两|一二|两三|" + "|".join(a + b for a, b in zip(_RANGE_DIGITS[1:], _RANGE_DIGITS[2:], strict=False)))


def number(spoken: str) -> float | None:
    """A spoken or written number, approximate ones at their middle (八十几 → 85, 二点几 → 2.5)."""
    special = {"半": 0.5, "小半": 0.4, "大半": 0.7, "好几": 4.0, "十来": 10.0, "二十来": 20.0, "几": 3.0}
    if spoken in special:
        return special[spoken]
    if _NEIGHBOURS.fullmatch(spoken):  # 一两 (one or two), 三四: a range, read at its top (not 12, 34)
        return float(_RANGE_DIGITS.index(spoken[1].replace("两", "二")) + 1)
    if spoken.endswith("来") and len(spoken) > 1:  # 五十来 (about fifty)
        return number(spoken[:-1])
    if re.fullmatch(r"\d+(?:\.\d+)?", spoken):
        return float(spoken)
    if spoken.endswith("点几"):
        whole = number(spoken[:-2])
        return None if whole is None else whole + 0.5
    if "几" in spoken:
        head, _, tail = spoken.partition("几")
        if tail == "十":  # 几十 (片), 几十分钟
            return 30.0
        base = number(head) if head else 0.0
        if base is None:
            return None
        return base + 5 if base >= 10 else base * 10 + 5 if head and head != "十" else 15.0
    try:
        return float(cn2an.cn2an(spoken.replace("〇", "零"), "smart"))
    except (ValueError, KeyError, TypeError):
        return None


_BP_NUM = rf"(?:\d{{2,3}}|[{_DIGITS}]?百[{_DIGITS}十]*|[{_DIGITS}]?十[{_DIGITS}]?)"
_BP_RANGE = re.compile(r"([一二])百([一二三四五六七八九])([一二三四五六七八九])十")
_BP_PAIR = re.compile(
    rf"(?P<hi>{_BP_NUM})(?P<hi_more>多|几|来)?\s*(?:/|／|比|over|，|,|、|\s)\s*(?P<lo>{_BP_NUM})(?P<lo_more>多|几|来)?(?![0-9{_DIGITS}十百])"
)
# A pressure said a clause after naming it: "血压一直降不下来，现在两百出头".
_BP_LATER = re.compile(rf"(?:现在|量的|测的|量出来|测出来|到了?|都|有)(?P<num>[一二两]百[{_DIGITS}十]*|\d{{3}})(?P<more>多|几|来|出头)?")
_BP_CONTEXT = re.compile(r"血压|高压|低压|量了|量的|测了|测的|mmHg|毫米汞柱|血压计")
_BP_SINGLE = re.compile(
    rf"(?P<kind>血压|高压|收缩压|上压|低压|舒张压|下压)(?:计)?[^，。,；;]{{0,6}}?(?P<num>[一二两]百[一二三四五六七八九]{{2}}十|{_BP_NUM}(?:[{_DIGITS}]?百[{_DIGITS}十]*)?)(?P<more>多|几|来|出头)?"
)
_AGE_WORD = r"(?:宝宝|孩子|娃儿|娃|小宝贝|小宝|宝贝|婴儿|闺女|儿子|女儿|小孩|孙子|孙女|外孙女|外孙|毛毛|小家伙|新生儿|小娃)"
_AGE_UNIT = r"(?P<unit>天|周|星期|个月|月)"
_AGE = re.compile(
    rf"(?:{_AGE_WORD}(?:才|刚|刚满|刚刚|出生|生下来才?|生出来才?|今年|已经|都)?|(?:才|刚满|出生|生下来才?|生出来才?|满)|我家(?:的|那个)?(?:是|才|刚))"
    rf"(?P<num>{_NUM})个?(?P<half>半)?多?{_AGE_UNIT}(?P<half2>半)?(?=$|[，。,；;\s]|大|了|的|体温|发|烧|摸|身上|额头|今天|昨天|就|还|吃|一直|有点)"
    rf"|(?P<num2>{_NUM})个?(?P<half3>半)?多?(?P<unit2>天|周|星期|个月|月)(?=大|的(?:宝宝|孩子|娃|婴儿|小孩))"
)
_AGE_DAYS = {"天": 1, "周": 7, "星期": 7, "个月": 30, "月": 30}
_PREGNANCY_BEFORE = re.compile(r"(?:怀孕|怀了|怀着|孕)[^，。,；;]{0,3}$")


def _bp_value(spoken: str, more: str | None) -> float | None:
    ranged = _BP_RANGE.fullmatch(spoken)
    if ranged:
        hundreds = 100 * (1 if ranged[1] == "一" else 2)
        low, high = (number(ranged[i]) for i in (2, 3))
        return None if low is None or high is None else hundreds + 5 * (low + high)
    value = number(spoken)
    if value is None:
        return None
    return value + 5 if more and value >= 100 else value


def _run_on_pair(spoken: str) -> tuple[float, float] | None:
    """Two pressures said without a pause (一百九一百一十 → 190/110), the longer systolic first."""
    for cut in range(len(spoken) - 1, 1, -1):
        high, low = number(spoken[:cut]), number(spoken[cut:])
        if high is not None and low is not None and 70 <= high <= 300 and 30 <= low <= 200 and high - low >= 10:
            return high, low
    return None


def heart_rates(text: str) -> Iterator[tuple[str, int, int, float]]:
    """Pulse said in words, ``reading.heart_rate`` (per minute): "心跳一分钟三十几下" → 35."""
    for match in _HEART_RATE.finditer(text):
        value = number(match["num"])
        if value is not None and value >= 10 and match["more"] == "多":
            value += 5
        if value is not None and 20 <= value <= 250:
            yield "reading.heart_rate", match.start(), match.end(), value


def blood_pressures(text: str) -> Iterator[tuple[str, int, int, float]]:
    """Blood pressure said with or without its name: ``reading.bp_systolic`` / ``reading.bp_diastolic``
    (mmHg) from "一百八十多，一百一十几" after 量了/血压, "血压一直在一百八九十", "低压一百二"."""
    for match in _BP_SINGLE.finditer(text):
        value = _bp_value(match["num"], match["more"])
        if (value is None or value > 300) and match["kind"] == "血压":
            pair = _run_on_pair(match["num"])
            if pair is not None:
                yield "reading.bp_systolic", match.start(), match.end(), pair[0]
                yield "reading.bp_diastolic", match.start(), match.end(), pair[1]
                continue
        kind = "reading.bp_diastolic" if match["kind"] in ("低压", "舒张压", "下压") else "reading.bp_systolic"
        least, most = (30, 200) if kind == "reading.bp_diastolic" else (60, 300)
        if value is not None and least <= value <= most:
            yield kind, match.start(), match.end(), value
    for match in _BP_LATER.finditer(text):
        if not re.search(r"血压|高压", text[max(0, match.start() - 24):match.start()]):
            continue
        value = _bp_value(match["num"], match["more"])
        if value is not None and 60 <= value <= 300:
            yield "reading.bp_systolic", match.start(), match.end(), value
    for match in _BP_PAIR.finditer(text):
        if not _BP_CONTEXT.search(text, max(0, match.start() - 24), match.start() + 1):
            continue
        high, low = _bp_value(match["hi"], match["hi_more"]), _bp_value(match["lo"], match["lo_more"])
        if high is None or low is None or not (60 <= high <= 300 and 30 <= low <= 200 and high - low >= 10):
            continue
        yield "reading.bp_systolic", match.start("hi"), match.end("hi"), high
        yield "reading.bp_diastolic", match.start("lo"), match.end("lo"), low


_UNDER_A_MONTH = re.compile(r"满月没几天|没满月|还没满月|不到满月|刚满月|月子里的(?:娃|孩子|宝宝)|新生儿|刚出生")


def ages(text: str) -> Iterator[tuple[str, int, int, float]]:
    """A young child's age in days, ``reading.age_days``: "小宝七周大", "宝宝才二十天", "生下来才十来天",
    "孩子一个半月" (not months of pregnancy, not "发烧两天了")."""
    for match in _AGE.finditer(text):
        if _PREGNANCY_BEFORE.search(text, 0, match.start()):
            continue
        spoken, unit = (match["num"], match["unit"]) if match["num"] else (match["num2"], match["unit2"])
        value = number(spoken)
        if value is None:
            continue
        half = 0.5 if match["half"] or match["half2"] or match["half3"] else 0.0
        yield "reading.age_days", match.start(), match.end(), (value + half) * _AGE_DAYS[unit]
    for match in _UNDER_A_MONTH.finditer(text):
        yield "reading.age_days", match.start(), match.end(), 30.0


def _glucose_value(spoken: str) -> float | None:
    """A glucose value in mmol/L, not a lone 一/两 (血糖一直, 血糖过一回); a numeral run into the next
    word without a pause is cut back (血糖二十七一直口渴 → 27)."""
    if _SINGLE_CHINESE_NUMERAL.fullmatch(spoken):
        return None
    value = number(spoken)
    while value is None and len(spoken) > 2:
        spoken = spoken[:-1]
        value = number(spoken)
    return value if value is not None and 0.5 <= value <= 40 else None


def durations(text: str) -> Iterator[tuple[str, int, int, float]]:
    """Durations said in ``text`` as ``("dur.minutes", start, end, minutes)``."""
    for match in _SPAN.finditer(text):
        value = number(match["num"])
        if value is None:
            continue
        after = text[match.end():match.end() + 2]
        if _SPAN_NOT_DURATION.match(after) and not after.startswith("了"):
            continue  # 两天前, 三个月大, 五岁: a point in time or an age, not how long
        minutes = value * _MINUTES_PER[match["unit"]]
        if match["half"] or match["half2"]:
            minutes += 0.5 * _MINUTES_PER[match["unit"]]
        yield "dur.minutes", match.start(), match.end(), minutes
    for match in _WORD_SPAN.finditer(text):
        minutes = next(m for pattern, m in _WORD_SPANS if re.fullmatch(pattern, match.group()))
        yield "dur.minutes", match.start(), match.end(), minutes


_TEMP_NUM = rf"[0-9]{{2}}(?:\.[0-9])?|[三四]十[{_DIGITS}]?(?:点[{_DIGITS}])?"
_TEMPERATURE = re.compile(
    rf"(?P<num>{_TEMP_NUM})\s*(?:度|℃)(?P<tenth>[{_DIGITS}](?![0-9{_DIGITS}十]))?"
    rf"|(?:烧到|体温|发烧|发热|高烧|热度|温度|肛温|耳温|腋温|额温)[^，。,；;0-9{_DIGITS}]{{0,3}}(?P<num2>{_TEMP_NUM})(?![0-9{_DIGITS}十百度℃])"
)


def temperatures(text: str) -> Iterator[tuple[str, int, int, float]]:
    """Body temperature said in words, ``reading.temperature`` (°C): "三十八度五" → 38.5, "39.2度",
    "烧到三十九" → 39 (34-43 only: 十度 or 一百度 is no body temperature)."""
    for match in _TEMPERATURE.finditer(text):
        spoken = match["num"] or match["num2"]
        value = number(spoken)
        if value is None:
            continue
        tenth = number(match["tenth"]) if match["tenth"] else None
        if tenth is not None and value == int(value) and tenth < 10:
            value += tenth / 10
        if 34 <= value <= 43:
            yield "reading.temperature", match.start(), match.end(), value


def device_readings(text: str) -> Iterator[tuple[str, int, int, float]]:
    """Home-device readings: ``reading.spo2`` (%), ``reading.glucose`` (mmol/L, ``inf`` for HI,
    ``0`` for LO; an unreadable meter yields both, the safe side when nobody knows which)."""
    for match in _SPO2.finditer(text):
        value = number(match["num"])
        if value is not None and 40 <= value <= 100:
            yield "reading.spo2", match.start(), match.end(), value
    read_until = -1
    for match in _GLUCOSE.finditer(text):
        value = _glucose_value(match["num"])
        if value is not None:
            read_until = match.end()
            yield "reading.glucose", match.start(), match.end(), value
    for match in _GLUCOSE_NEXT.finditer(text):
        value = _glucose_value(match["num"])
        if value is not None and match.start("num") >= read_until:
            read_until = match.end()
            yield "reading.glucose", match.start(), match.end(), value
    for match in _MEASURED.finditer(text):
        context = _GLUCOSE_CONTEXT.search(text, max(0, match.start() - _GLUCOSE_CONTEXT_WINDOW), match.start())
        value = _glucose_value(match["num"]) if context else None
        if value is not None and match.start() >= read_until:
            yield "reading.glucose", match.start(), match.end(), value
    for match in _GLUCOSE_OFF_SCALE.finditer(text):
        what = match["what"].upper()
        if what.startswith("LO") or what.startswith("低"):
            yield "reading.glucose", match.start(), match.end(), 0.0
            continue
        yield "reading.glucose", match.start(), match.end(), float("inf")
        if not (what.startswith("HI") or what.startswith("爆") or what.startswith("高")):
            yield "reading.glucose", match.start(), match.end(), 0.0
