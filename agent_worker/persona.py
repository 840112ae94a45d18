"""Personas: instructions written for the ear, not the page, in the caller's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent_worker.settings import Language


@dataclass(frozen=True)
class Persona:
    name: str
    instructions_en: str
    instructions_zh: str
    greeting_en: str
    greeting_zh: str

    def instructions(self, language: Language) -> str:
        return self.instructions_zh if language == "zh" else self.instructions_en

    def greeting(self, language: Language) -> str:
        return self.greeting_zh if language == "zh" else self.greeting_en


# A reply is heard once and cannot be skimmed: at most three short sentences, no lists or symbols. Small
# local models also restate the question and invent live facts (the time, the weather, a phone number)
# unless told plainly not to. Told only that, with the apology to say ("Sorry, I can't check that"), the
# 1.5B model said it to answerable questions too and then to every question after; so the everyday kinds it
# should answer are named, the live-data ones are the only exceptions, and no apology is quoted for it to
# copy (docs/offline-models.md, replies: answerable questions refused 7 of 53 → 2 of 94, with the DRY
# sampler of agent_worker/agent.py, without which this wording had the model echo questions instead).
_SPOKEN_STYLE_EN = (
    "Talk like a person on the phone: at most three short sentences, no lists, symbols or emoji. "
    "Answer directly and never repeat the caller's question. "
    "Answer everyday questions (cooking, health, advice, books, jokes, how to do things, general "
    "knowledge) from what you know. "
    "You have no internet, no clock and no live data: only when the caller asks for today's weather, "
    "the time, the news, nearby places, prices, flights, trains or orders, say you can't look that up "
    "and suggest where to check. Never pretend to book or change anything, and never invent such facts, "
    "phone numbers, names or addresses. "
    "If you did not understand, ask the caller to say it again. "
    "Reply in the language the caller last spoke: English or Mandarin Chinese."
)
_SPOKEN_STYLE_ZH = (
    "像打电话一样说话：最多三句短句，不用列表、符号或表情。直接回答，不要重复用户的问题。"
    "做饭、健康、建议、书、笑话、怎么做事和常识这类日常问题，直接用你知道的回答。"
    "你不能上网，只有被问到今天的天气、时间、新闻、附近的商家、价格、航班、火车或订单时，才说你查不到，"
    "并建议去哪里查；不要假装能预订或修改任何东西，不要编造。"
    "没听清时请对方再说一遍。用户说中文就用简体中文回答，说英文就用英文回答。"
)


def spoken_persona(name: str, roles: Mapping[Language, str], greetings: Mapping[Language, str]) -> Persona:
    """A persona from what an operator writes (its role and greeting per language) with the spoken-style
    rules every reply needs. A language given neither falls back to the other one's words."""

    def pick(texts: Mapping[Language, str], language: Language) -> str:
        other: Language = "en" if language == "zh" else "zh"
        return texts.get(language) or texts.get(other) or ""

    return Persona(
        name=name,
        instructions_en=f"{pick(roles, 'en')} {_SPOKEN_STYLE_EN}".strip(),
        instructions_zh=pick(roles, "zh") + _SPOKEN_STYLE_ZH,
        greeting_en=pick(greetings, "en"),
        greeting_zh=pick(greetings, "zh"),
    )


# The built-in personas; "default" is also the functions API's seeded default assistant
# (functions/default_assistant.json, kept equal by tests/agent_worker/test_assistants.py).
BUILT_IN_ROLES: dict[str, tuple[dict[Language, str], dict[Language, str]]] = {
    "default": (
        {
            "en": "You are Echo, a friendly voice assistant answering a phone call.",
            "zh": "你是小声，一个接听电话的友好语音助手。",
        },
        {"en": "Hi, I'm Echo. How can I help?", "zh": "你好，我是小声。有什么可以帮你？"},
    ),
    "tutor": (
        {
            "en": "You are a patient language tutor who helps people practise speaking.",
            "zh": "你是一位耐心的口语老师，帮助用户练习说话。",
        },
        {"en": "Hello! What would you like to practise today?", "zh": "你好！今天想练习什么？"},
    ),
}
PERSONAS: dict[str, Persona] = {
    name: spoken_persona(name, roles, greetings) for name, (roles, greetings) in BUILT_IN_ROLES.items()
}


# Said with each of the caller's messages: small models drift into the language of the previous turns
# otherwise. Attached to that message every time it is sent, so the cached prompt stays the same. It goes
# before the words, not after: the transcript turn detector asks about the words with the message left
# open, so what it reads is the reply's prompt up to their end, and a hint after them would be read on the
# reply's critical path (10-11 tokens in Mandarin, 6 in English).
REPLY_LANGUAGE_HINT: dict[Language, str] = {
    "zh": "（请用中文直接回答，不要重复问题）",
    "en": "(Answer in English.) ",
}


# A llama.cpp grammar (GBNF) per reply language, sent with each request to a server that takes one
# (LLM_REPLY_GRAMMAR). The hint above still loses to a run of turns in the other language on a 1.5B
# model, and "at most three sentences" to a chatty question; a grammar cannot. A reply is at most three
# sentences (the generation ends after the third one's full stop, not mid-sentence at the token limit).
# English: no Han characters or full-width punctuation, and a "." ends a sentence unless a letter or
# digit follows ("3.5"); Mandarin: the first character is Han, the rest may hold Latin names and digits
# ("我买了iPhone 15"). No line breaks: a spoken reply has no lists (seen in a test run: without this, the 1.5B
# model sometimes answered "seven facts" as a bulleted list, one unending "sentence" to the grammar).
_THREE_SENTENCES = "root ::= first (stop (part (stop (part stop?)?)?)?)?\n"
REPLY_GRAMMAR: dict[Language, str] = {
    "en": _THREE_SENTENCES
    + "first ::= part\n"
    + 'part ::= (plain | "." [0-9A-Za-z])+\n'
    + "plain ::= [^.!?\\x00\\n\\r\\u3000-\\u303f\\u4e00-\\u9fff\\uff00-\\uffef]\n"
    + "stop ::= [.!?]+ [)\"'\\]]*\n",
    "zh": _THREE_SENTENCES
    + "first ::= [\\u4e00-\\u9fff] part?\n"
    + "part ::= [^。！？!?\\x00\\n\\r]+\n"
    + "stop ::= [。！？!?]+ [”’」』)）]*\n",
}


def language_of(text: str) -> Language | None:
    """The script decides: any Han character means Mandarin; Latin letters alone mean English."""
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return "zh"
    if any(ch.isascii() and ch.isalpha() for ch in text):
        return "en"
    return None


def get_persona(name: str) -> Persona:
    """Unknown names fall back to the default persona: a bad dispatch value must not end a call."""
    return PERSONAS.get(name, PERSONAS["default"])
