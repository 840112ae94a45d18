"""Personas: instructions written for the ear, not the page, in the caller's language."""

from __future__ import annotations

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


# Voice replies are heard once and cannot be skimmed: short sentences, no lists, no markup.
_SPOKEN_STYLE_EN = (
    "You are talking with a person by voice. Answer in one to three short spoken sentences. "
    "No lists, no markdown, no emoji, no URLs. Spell out numbers as they are spoken. "
    "If you did not understand, ask the person to repeat. You have no live data such as weather or news; "
    "say so briefly and keep the conversation going. "
    "Reply in English unless the person speaks Chinese; then reply in Simplified Chinese (Mandarin)."
)
_SPOKEN_STYLE_ZH = (
    "你正在通过语音和用户交谈。用一到三个简短的口语句子回答。"
    "不要使用列表、Markdown、表情符号或网址。数字请用口语读法。"
    "如果没听清，请对方再说一遍。你没有天气、新闻等实时信息，简单说明后继续聊天。"
    "始终用简体中文（普通话）回答；只有当用户说英文时才用英文回答。"
)

PERSONAS: dict[str, Persona] = {
    "default": Persona(
        name="default",
        instructions_en="You are Echo, a friendly and concise voice assistant. " + _SPOKEN_STYLE_EN,
        instructions_zh="你是小声，一个友好、简洁的语音助手。" + _SPOKEN_STYLE_ZH,
        greeting_en="Hi, I'm Echo. How can I help?",
        greeting_zh="你好，我是小声。有什么可以帮你？",
    ),
    "tutor": Persona(
        name="tutor",
        instructions_en="You are a patient language tutor who helps people practise speaking. "
        + _SPOKEN_STYLE_EN,
        instructions_zh="你是一位耐心的口语老师，帮助用户练习说话。" + _SPOKEN_STYLE_ZH,
        greeting_en="Hello! What would you like to practise today?",
        greeting_zh="你好！今天想练习什么？",
    ),
}


# Small local models drift into the wrong language unless told for this very turn.
REPLY_LANGUAGE_HINT: dict[Language, str] = {
    "zh": "用简体中文（普通话）回答这一句。",
    "en": "Answer this in English.",
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
