"""Non-numeric follow-up answers: adherence, missed doses and reasons, symptoms, hypoglycaemia, side
effects, lifestyle, yes/no and refusal.

Each reader returns ``None`` when the answer does not say (the flow then asks again or leaves the item
empty); none of them guesses. Negation uses the triage flow's scope rules (``dialogue.negation``).
"""

from __future__ import annotations

import math
import re

from dialogue.negation import is_negated
from medical_terms import DIGITS, NUMERAL, parse_number
from medical_terms.concepts import durations
from medical_terms.numerals import read_count

ADHERENCE = ("规律", "间断", "不服药")

# Adherence is read as a small grammar of what callers say about their doses, not as a phrase list:
# a miss denied (一天没断, 一顿不少, 没落过) is taking as prescribed and its verb is no miss; a miss said
# with how often (隔三岔五忘一回, 有时候不吃) or counted (忘了两回, 一礼拜吃个三四天) or a dose changed on
# one's own (自己减了两个单位) is 间断; stopping or never starting (停了, 早不吃了, 开了药我没吃, 光靠
# 管住嘴) is 不服药 unless the gap was short (这两天没顾上吃, 断了好几天) or ended (隔了四五天才去拿).
_TAKE = r"(?:吃|服|打|用|喝)"
_MISS = r"(?:断|停|落|漏|忘|缺|少|拉)"
_NONE_MISSED = re.compile(
    rf"(?:一天|一顿|一次|一回|一片|一针|从来|从|都|也|压根|基本上?|就|还)?(?:没有?|不|从没|从不){_MISS}(?:过|下|了|掉|着)?"
)
_UNKNOWN = re.compile(r"吃没吃|吃了没|打没打|不知道|不清楚|说不好|记不清|搞不清")
_OFTEN = r"(?:有时候?|有的时候|偶尔|经常|老是?|总是?|时不时|隔三[差岔叉]五|三天两头|动不动|常常|不时|间或)"
_INTERMITTENT = re.compile(
    rf"{_OFTEN}[^，。,；;]{{0,6}}(?:忘|漏|落|没{_TAKE}|不{_TAKE}|顾不上|没顾上|想不起)"
    rf"|(?:忘|漏|落|少{_TAKE}|没{_TAKE}|断|缺)了?(?:个|得有|能有|有|那么|好)?[{DIGITS}几两俩0-9]+(?:个)?(?:回|次|顿|天|针|片)"
    rf"|(?:只|就|也就|能|才)(?:{_TAKE})?(?:了|个|上)*好?[{DIGITS}几两俩0-9十来]+(?:个)?(?:天|顿|回|次)"
    r"|自己[^，。,；;]{0,3}(?:减|加|改|停|调)|减量|减了|量少了|少打|少吃|吃半片|掰开|减半"
    r"|(?:出门|外出|出差|忙起来|太忙|不在家|走亲戚|回老家)[^，。,；;]{0,4}(?:没带|忘带|顾不上|不吃|没吃|就忘)"
    r"|(?:不高|不晕|不疼|不难受|没感觉|好点|好些|没事|正常)[^，。,；;]{0,5}就?不(?:吃|打)|了再(?:吃|打)"
    r"|不老实|不按时|不按点|不太?规律|想起来(?:才|就)|想不起来|时吃时不吃|有一顿没一顿|断断续续|三天打鱼|两天晒网"
    rf"|有时候?{_TAKE}|漏一半|一半(?:的)?时间|也就吃个|漏服|漏吃|忘吃|忘了吃|间断"
    rf"|不(?:是|太)?(?:天天|每天|按时|规律|按点|准时)"
    r"|(?:吃完|用完|断)[^。]{0,12}(?:才|又|后来|再)[^，。,；;]{0,4}(?:拿|开|买|配|取)"
    rf"|没顾上|顾不上"
)
_STOPPED = re.compile(
    rf"停了|停药|停掉|断药|药断了|不{_TAKE}了|没{_TAKE}了|没在{_TAKE}|不在{_TAKE}|没再{_TAKE}|早不{_TAKE}|早就不|不想{_TAKE}"
    rf"|不吃药|没吃药|不吃西药|西药不吃|改{_TAKE}|换成|光靠|只靠|靠[^，。,；;]{{0,3}}(?:管住嘴|饮食|锻炼|运动|食疗)"
    r"|没开药|没去开|没去拿|没去买|没拿药|还没拿|药没了|没药了|吃完了?[^，。,；;]{0,4}没|(?:喝|吃)中药|保健品"
    rf"|(?:一直|从来|压根|根本|一片|一粒|一顿|一针)[^，。,；;]{{0,2}}没有?{_TAKE}|开[了的]药[^，。,；;]{{0,3}}没{_TAKE}"
    rf"|没{_TAKE}过|从没{_TAKE}|好久没|很久没|[个多]月没{_TAKE}|礼拜没{_TAKE}|没必要{_TAKE}|用不着{_TAKE}|不需要{_TAKE}"
    r"|(?:嫌|太)贵[^，。,；;]{0,3}没|没(?:去)?买"
)
_REGULAR = re.compile(
    rf"(?:每天|天天|每日|每晚|每早|顿顿|每顿|一直|都|照常|坚持|早晚|一天[一两二三四俩]?[次顿片回粒针])(?:(?!不|没)[^，。,；;]){{0,12}}{_TAKE}"
    rf"|按(?:医生|大夫)[^，。,；;]{{0,4}}{_TAKE}|按医嘱|遵医嘱|照(?:着)?(?:医生|大夫)|雷打不动"
    rf"|{_TAKE}着|在{_TAKE}|(?:按时|按点|准时|规律|规规矩矩|老老实实)[^，。,；;]{{0,2}}{_TAKE}|(?:吃|服)[^，。,；;]{{0,2}}(?:按时|准时)"
    rf"|(?:看着|盯着|管着|摆)[^，。,；;]{{0,6}}{_TAKE}?|管着呢|规律|从不落|一天不落"
)
_SHORT_GAP = 7 * 24 * 60  # minutes: a gap shorter than a week is 间断, a longer one 不服药
_LONG_WORDS = re.compile(r"好久|很久|老长时间|好长时间|一直|早就|早不|早停|从来|压根|根本")
_REASONS = {
    "忘记": r"忘",
    "药已用完": r"吃完了|药没了|没药了|没去开|没开药|断药",
    "副作用": r"副作用|不舒服|难受|咳嗽|头晕|过敏",
    "自觉好转": r"好了|正常了|降下来了|不高了|觉得没事|没事了",
    "费用": r"贵|没钱|费用|报销",
    "担心依赖或伤身": r"依赖|伤肝|伤肾|伤身|是药三分毒",
    "外出不便": r"出门|外地|出差|旅游|不在家",
}
_YES = re.compile(r"^(?:对|对的|对对|是的|是|没错|嗯|嗯嗯|好|好的|没问题|正确|是这样|对啊|是啊|是呀|对呀)|对的|没错|正确")
_NO = re.compile(r"不对|不是|(?<!不)错了|说错|不正确|没说对|搞错")
_REFUSAL = re.compile(
    r"不想说|不想回答|不方便|没空|没时间|在忙|忙着呢|别打了|不要打|不用打|不需要|不配合|不做了|不做随访|别问了|挂了|骚扰"
)
_NONE = re.compile(r"^(?:没有|没|无|都没有|都没|没什么|没啥|也没有|一次也没有|从来没有|从没有|不抽|不喝|不运动)|都没有|什么都没有")
# "Nothing wrong" said without a bare 没有: 身上没啥不舒服的, 没啥症状, 吃了药也没啥反应, 身上挺好.
_NOTHING = re.compile(
    r"(?:没有?|无|木有|莫得|冇)(?:啥子?|什么|任何|哪里|哪儿|多大|一点)?(?:不舒服|不对劲|不好|症状|毛病|反应|问题|异常|感觉|情况)"
    r"|(?:身上|身体|都|一切|各方面|别的)[^，。,；;]{0,2}(?:挺好|都好|还好|好好的|正常|没事|好着)|啥(?:毛病|事)?都没有?"
)
_HYPO_NONE = re.compile(
    r"低血糖[^，。,；;]{0,3}(?:没|没有|从没|从来没)(?:犯|出现|发生|有|低|得)?过?|没有?(?:犯|出现|发生)?过?低血糖|没低过|没犯过"
)
_HYPO_FREQUENT = re.compile(r"经常|老是|频繁|总是|好几次|好多次|隔三差五|天天")
_HYPO_OCCASIONAL = re.compile(r"偶尔|有过|一两次|一次|两次|有一回|有时候")
_COUNT = re.compile(rf"({NUMERAL})\s*(?:次|顿|回|天)")
_ALCOHOL = re.compile(rf"({NUMERAL})\s*两")
_EXERCISE_TIMES = re.compile(rf"({NUMERAL})\s*(?:次|回|天)")
_EXERCISE_MINUTES = re.compile(rf"({NUMERAL})\s*(?:分钟|分)|(半个?小时)|({NUMERAL})\s*个?(?:小时|钟头)")
_STAPLE = re.compile(rf"({NUMERAL})\s*(?:两|克)")
_SALT = (("轻", r"淡|清淡|少盐|不咸|轻"), ("重", r"咸|重口|口重|盐多"), ("中", r"一般|还行|正常|适中|中等|不咸不淡"))


_CLAUSE = re.compile(r"[^，,。；;！!？?但]+")
_CLAUSE_NEGATION = re.compile(r"^(?:也|都|基本|基本上|倒是|好像|最近)?(?:没有|没|无|不|从来没有?|一直没有?)")
_AFFIRMED_LATER = re.compile(r"有点|有些|就是|只是|还是有|偶尔有|倒是有")


def mentioned(pattern: re.Pattern[str] | str, text: str) -> bool:
    """Whether ``pattern`` is said to be present: not negated right before it, and not inside a clause that
    opens with a negation listing several items ("没有头疼头晕" negates both)."""
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
    for clause in _CLAUSE.finditer(text):
        part = clause.group()
        negated_clause = _CLAUSE_NEGATION.match(part.strip()) and not _AFFIRMED_LATER.search(part)
        for match in compiled.finditer(part):
            if not negated_clause and not is_negated(part, match.start()) and not _DENIED_INSIDE.search(match.group()):
                return True
    return False


# A denial of the last words a pattern matched (手也不抖, 头一点都不疼): not a potential complement (止不住),
# nor a denial of something else on the way (伤口一直不好还发臭).
_DENIED_INSIDE = re.compile(r"(?:也|都|还|并|倒|又|根本|从来|压根|一点都?|一点也|一直)(?:不|没有?)[\u4e00-\u9fff]{0,2}$")
_PAST = re.compile(r"以前|之前|前阵子|前段时间|前几天|前两天|上个月|上个?礼拜|上个?星期|上个?周|上次|上回|去年|过去|那时候|年轻时")
_OVER = re.compile(r"现在[^，。,；;]{0,3}好了|早(就)?好了|已经好了|就好了|现在没事|现在没有了|没再[^，。,；;]{0,3}(疼|犯|发|出现)|好几年没")


def mentioned_now(pattern: re.Pattern[str] | str, text: str) -> bool:
    """Like :func:`mentioned`, per utterance (``。``-separated), but a symptom told as past and over
    ("以前胸口疼过，这两年没再疼过", "前两天有点恶心，现在好了") does not count. Without a past-time word
    it always counts: "刚才胸口疼，现在好了" is still a danger symptom."""
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
    for utterance in text.split("。"):
        if not mentioned(compiled, utterance):
            continue
        match = compiled.search(utterance)
        past = match is not None and _PAST.search(utterance, 0, match.start() + 1) is not None
        over = match is not None and (_OVER.search(utterance, match.start()) is not None
                                     or utterance[match.end():match.end() + 1] == "过")
        if not (past and over):
            return True
    return False


_FOR_THE_PATIENT = re.compile(
    r"我是(?:他|她)(?:的)?[\u4e00-\u9fff]{1,3}|我替(?:他|她)|我帮(?:他|她)|(?:他|她)(?:耳朵背|听不清|不方便接|睡着|说不清)"
    r"|^(?:老头子|老太太|老伴儿?)|我是(?:患者|病人)的?[\u4e00-\u9fff]{1,3}|(?:我|俺)(?:家)?(?:娘|妈|爸|爹|老伴|老头子?|老太太?|婆婆|公公|爷爷|奶奶|姥姥|姥爷)"
)
_SHE = re.compile(r"她|娘|妈|婆婆|奶奶|姥姥|老太|闺女|女儿")
_HE = re.compile(r"他|爸|爹|公公|爷爷|姥爷|老头")


def answering_for(text: str) -> str | None:
    """How to name the patient when someone else answers for them (我是她闺女，俺娘耳朵背): 她 / 他 /
    老人家; ``None`` when the caller speaks for themselves."""
    match = _FOR_THE_PATIENT.search(text)
    if match is None:
        return None
    said = text[: match.end() + 6]
    she, he = _SHE.search(said), _HE.search(said)
    if she and not he:
        return "她"
    if he and not she:
        return "他"
    return "老人家"


def is_yes(text: str) -> bool:
    """A confirmation ("对", "是的", "没错"); a denial wins over yes words in the same answer."""
    return not is_no(text) and bool(_YES.search(text.strip()))


def is_no(text: str) -> bool:
    """A denial of a read-back ("不对", "不是", "错了")."""
    return bool(_NO.search(text))


def is_refusal(text: str) -> bool:
    """The patient does not want to go on with the call."""
    return bool(_REFUSAL.search(text))


def says_none(text: str) -> bool:
    """"没有" and the like: nothing of what was asked."""
    return bool(_NONE.search(text.strip()) or _NOTHING.search(text))


def read_adherence(text: str) -> str | None:
    """规律 / 间断 / 不服药 from the answer, or ``None`` when it does not say (see the grammar above)."""
    regular = bool(_NONE_MISSED.search(text))
    rest = _NONE_MISSED.sub("，", text)
    if _UNKNOWN.search(rest) and not regular:
        return None
    if _INTERMITTENT.search(rest):
        stopped = _STOPPED.search(rest)
        return "不服药" if stopped and _long_gap(rest) and not re.search(r"才去?|又去?|后来", rest) else "间断"
    if _STOPPED.search(rest):
        gap = _gap_minutes(rest)
        short = gap is not None and gap < _SHORT_GAP and not _LONG_WORDS.search(rest)
        return "间断" if short else "不服药"
    if regular or _REGULAR.search(rest):
        return "规律"
    return None


def _gap_minutes(text: str) -> float | None:
    spans = [value for _, _, _, value in durations(text)]
    return max(spans) if spans else None


def _long_gap(text: str) -> bool:
    gap = _gap_minutes(text)
    return gap is not None and gap >= _SHORT_GAP


def read_missed_doses(text: str) -> int | None:
    """Doses missed in the last week ("漏了两次"); "没漏" is 0; ``None`` when not said."""
    match = _COUNT.search(text)
    if match:
        value = parse_number(match.group(1))
        return int(value) if value is not None else None
    if re.search(r"没漏|没有漏|一次也没|都没漏", text):
        return 0
    return None


def read_reasons(text: str) -> list[str]:
    """Why doses were missed, as the form's reason words (可多选)."""
    return [reason for reason, pattern in _REASONS.items() if re.search(pattern, text)]


def read_symptoms(text: str, options: list[dict[str, str]]) -> list[str] | None:
    """Form option codes said to be present; ``["1"]`` (无症状) for a plain "没有"; ``None`` if unclear."""
    found = [opt["code"] for opt in options if opt["code"] != "1" and mentioned(opt["pattern"], text)]
    if found:
        return found
    if says_none(text) or any(re.search(opt["pattern"], text) for opt in options):  # all negated
        return ["1"]
    return None


def read_hypoglycemia(text: str) -> str | None:
    """低血糖反应 1 无 / 2 偶尔 / 3 频繁 (as "无", "偶尔", "频繁")."""
    if _HYPO_FREQUENT.search(text):
        return "频繁"
    if says_none(text) or _HYPO_NONE.search(text):
        return "无"
    if _HYPO_OCCASIONAL.search(text):
        return "偶尔"
    return None


def read_side_effects(text: str) -> bool | None:
    """Whether the patient reports an adverse drug reaction."""
    if says_none(text) or re.search(r"挺好|还好|没什么反应|没反应|没感觉", text):
        return False
    if re.search(r"有|咳|肿|不舒服|难受|过敏|疼|痛|晕|恶心|拉肚子", text):
        return True
    return None


def _number(pattern: re.Pattern[str], text: str) -> float | None:
    match = pattern.search(text)
    if not match:
        return None
    groups = [g for g in match.groups() if g]
    return parse_number(groups[0]) if groups else None


# A lifestyle amount is a habit, not a reading: the form takes a rough count at its middle (十来根 → 10,
# 两三根 → 2.5, 一包多 → 25). Measured values never are (values.py asks again).
_HABIT_COUNT = rf"[{DIGITS}十几好来多半]+"
_CIGARETTE_AMOUNT = re.compile(rf"(?P<count>{_HABIT_COUNT})\s*(?P<unit>支|根|颗|包)(?P<more>多)?")
_BEER = re.compile(rf"(?P<count>{_HABIT_COUNT})\s*(?:瓶|罐|听)(?:啤酒)?")


def _habit_count(spoken: str) -> float | None:
    if spoken in ("半", "小半"):
        return 0.5
    count = read_count(spoken[:-1] if spoken.endswith("多") and len(spoken) > 1 else spoken)
    if count is None or math.isinf(count.high):
        return None
    return (count.low + count.high) / 2


def read_cigarettes(text: str) -> float | None:
    """Cigarettes per day (a pack is 20; 十来根 → 10); 0 for "不抽"/"戒了"."""
    if re.search(r"不抽|没抽|戒了|不吸|从来不", text):
        return 0.0
    match = _CIGARETTE_AMOUNT.search(text)
    if match is None:
        return None
    count = _habit_count(match["count"])
    if count is None:
        return None
    if match["unit"] == "包":
        return count * 20 + (10 if match["more"] else 0)
    return count


def read_alcohol(text: str) -> float | None:
    """Liang (两) of spirits per day; a bottle of beer counts as one liang (the usual rule of thumb:
    一瓶啤酒约合一两白酒); 0 for "不喝"."""
    if re.search(r"不喝|没喝|戒了|滴酒不沾|从来不", text):
        return 0.0
    spirits = _number(_ALCOHOL, text)
    if spirits is not None or "啤酒" not in text:
        return spirits
    match = _BEER.search(text)
    return _habit_count(match["count"]) if match else None


def read_exercise(text: str) -> tuple[float | None, float | None] | None:
    """(times per week, minutes per time); (0, 0) for "不运动"; ``None`` when not said."""
    if re.search(r"不运动|没运动|不怎么动|不怎么运动|很少运动|很少动|不爱动|不锻炼|没锻炼", text):
        return (0.0, 0.0)
    times = _number(_EXERCISE_TIMES, text)
    if re.search(r"每天|天天", text) and times is None:
        times = 7.0
    minutes_match = _EXERCISE_MINUTES.search(text)
    minutes: float | None = None
    if minutes_match:
        if minutes_match.group(2):
            minutes = 30.0
        elif minutes_match.group(1):
            minutes = parse_number(minutes_match.group(1))
        elif minutes_match.group(3):
            hours = parse_number(minutes_match.group(3))
            minutes = hours * 60 if hours is not None else None
    if times is None and minutes is None:
        return None
    return (times, minutes)


def read_salt(text: str) -> str | None:
    """摄盐情况 轻 / 中 / 重."""
    for level, pattern in _SALT:
        if level == "轻" and re.search(r"不咸不淡", text):
            continue
        if re.search(pattern, text):
            return level
    return None


def read_staple_grams(text: str) -> float | None:
    """主食 grams per day (一两 = 50 g)."""
    match = _STAPLE.search(text)
    if not match:
        return None
    value = parse_number(match.group(1))
    if value is None:
        return None
    return value * 50 if "两" in match.group(0) else value
