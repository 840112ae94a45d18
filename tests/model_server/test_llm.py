"""Language model engine (llama.cpp through xllamacpp, in process): streaming, stopping, slots, errors,
no network listener, and replies in the caller's language from the default model."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from infra.model_server.llm import LlamaEngine, SlotAffinity
from infra.model_server.packaged import ModelFileError

SYSTEM_EN = (
    "You are a friendly voice assistant on a phone call. Answer in at most three short spoken "
    "sentences, in the caller's language. Never repeat the caller's words back."
)
CJK = re.compile(r"[\u4e00-\u9fff]")


def ask(question: str, max_tokens: int = 24, **extra: Any) -> dict[str, Any]:
    return {
        "messages": [{"role": "system", "content": SYSTEM_EN}, {"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        **extra,
    }


def stream(
    engine: LlamaEngine, request: dict[str, Any], stop_after: int | None = None
) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []

    def on_chunk(chunk: dict[str, Any]) -> bool:
        chunks.append(chunk)
        return stop_after is not None and len(content(chunks)) >= stop_after

    engine.chat_stream(request, on_chunk)
    return chunks


def content(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        c["choices"][0]["delta"]["content"]
        for c in chunks
        if c.get("choices") and c["choices"][0].get("delta", {}).get("content")
    ]


# --- no model ------------------------------------------------------------------------------------------


def test_each_conversation_keeps_its_slot_and_the_longest_idle_one_gives_it_up() -> None:
    slots = SlotAffinity(2)
    assert slots.slot_for("call-a") == 0
    assert slots.slot_for("call-b") == 1
    assert slots.slot_for("call-a") == 0
    assert slots.slot_for("call-c") == 1  # call-b has been idle longest
    assert slots.slot_for("call-a") == 0
    assert slots.slot_for("call-b") == 1  # call-c is now the longest idle


def test_bad_model_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="neither a packaged model"):
        LlamaEngine(str(tmp_path / "missing.gguf")).load()
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        LlamaEngine(str(text)).load()


@pytest.mark.slow
def test_a_damaged_gguf_is_a_clear_error(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(b"GGUF" + os.urandom(4096))
    with pytest.raises(ModelFileError, match="could not load"):
        LlamaEngine(str(damaged), n_ctx=512, parallel=1).load()


# --- the small packaged model (fast) -------------------------------------------------------------------


# This process's listeners before llama.cpp starts (servers other tests of the session keep running here).
_LISTENING_BEFORE: set[str] = set()


@pytest.fixture(scope="module")
def small() -> Any:
    _LISTENING_BEFORE.update(my_socket_inodes() & listening_tcp_inodes())
    engine = LlamaEngine("qwen2.5-0.5b", n_ctx=2048, threads=1, batch_threads=2, parallel=2, cache_reuse=32)
    engine.load()
    yield engine
    engine.close()


def listening_tcp_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    return inodes


def my_socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # e.g. the descriptor listdir itself used
            link = os.readlink(f"/proc/self/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
    return inodes


@pytest.mark.slow
def test_llama_cpp_opens_no_tcp_port(small: LlamaEngine) -> None:
    with socket.create_server(("127.0.0.1", 0)) as control:  # proves the check sees a listener
        assert my_socket_inodes() & listening_tcp_inodes()
    control.close()
    assert not (my_socket_inodes() & listening_tcp_inodes()) - _LISTENING_BEFORE


@pytest.mark.slow
def test_streaming_yields_tokens_then_timings_and_usage(small: LlamaEngine) -> None:
    chunks = stream(small, ask("Say hello to Anna.", stream_options={"include_usage": True}))
    assert len(content(chunks)) >= 2
    assert all(c["model"] == small.model_id for c in chunks)
    assert chunks[-1]["timings"]["predicted_n"] >= 2 and chunks[-1]["timings"]["prompt_n"] > 0
    assert chunks[-1]["usage"]["completion_tokens"] == chunks[-1]["timings"]["predicted_n"]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")]
    assert finishes[-1] in ("stop", "length")


@pytest.mark.slow
def test_non_streaming_returns_one_message_with_usage(small: LlamaEngine) -> None:
    result = small.chat(ask("What is two plus two?"))
    assert result["choices"][0]["message"]["content"].strip()
    assert result["usage"]["prompt_tokens"] > 10


@pytest.mark.slow
def test_stopping_early_frees_the_slot_at_once(small: LlamaEngine) -> None:
    long_answer = ask("Count from one to five hundred, one number per line.", max_tokens=1500)
    for _ in range(small.parallel):  # every slot: a slot still generating would block the request below
        start = time.perf_counter()
        chunks = stream(small, long_answer, stop_after=3)
        assert len(content(chunks)) == 3  # nothing is delivered after the callback said stop
        assert time.perf_counter() - start < 30
    # 1,500 tokens would keep both slots busy for a minute or more: the answer comes only if they are free
    start = time.perf_counter()
    again = stream(small, ask("Say yes.", max_tokens=3))
    assert content(again) and time.perf_counter() - start < 45


@pytest.mark.slow
def test_two_concurrent_requests_both_complete(small: LlamaEngine) -> None:
    results: dict[str, list[dict[str, Any]]] = {}

    def run(name: str, question: str) -> None:
        results[name] = stream(small, ask(question, max_tokens=16))

    threads = [
        threading.Thread(target=run, args=("a", "Name a colour.")),
        threading.Thread(target=run, args=("b", "Name a fruit.")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert set(results) == {"a", "b"}
    assert all(content(chunks) and "timings" in chunks[-1] for chunks in results.values())


def follow_up_cache(engine: LlamaEngine, keys: bool, topic: str) -> tuple[int, int]:
    """Call 1's first turn, then call 2 (same instructions) twice, then call 1's second turn: the
    tokens call 1's first turn evaluated, and how many of them its second turn found cached."""

    def key(name: str) -> dict[str, str]:
        return {"user": name} if keys else {}

    first_request = ask(f"I need help with my {topic}.", max_tokens=12, **key(f"{topic}-1"))
    first = engine.chat(first_request)
    engine.chat(ask(f"How do I cancel my {topic}?", max_tokens=12, **key(f"{topic}-2")))
    engine.chat(ask("And how long does that take?", max_tokens=12, **key(f"{topic}-2")))
    messages = [
        *first_request["messages"],
        {"role": "assistant", "content": first["choices"][0]["message"]["content"]},
        {"role": "user", "content": "Can you do it for Tuesday?"},
    ]
    second = engine.chat({**first_request, "messages": messages})
    return first["usage"]["prompt_tokens"], second["timings"]["cache_n"]


@pytest.mark.slow
def test_a_conversation_key_keeps_the_history_cached(small: LlamaEngine) -> None:
    evaluated, cached = follow_up_cache(small, keys=True, topic="travel plans")
    assert cached >= evaluated
    # without keys, call 2 looks like call 1 (same instructions) and takes over its slot
    evaluated, cached = follow_up_cache(small, keys=False, topic="hotel booking")
    assert cached < evaluated


@pytest.mark.slow
def test_rejected_requests_are_error_dicts(small: LlamaEngine) -> None:
    bad = small.chat({"messages": "not a list"})
    assert bad["error"]["code"] == 400
    too_long = stream(small, ask("word " * 3000))
    assert len(too_long) == 1 and too_long[0]["error"]["code"] == 400
    assert content(stream(small, ask("Say yes.")))  # the engine still works


@pytest.mark.slow
def test_an_exception_in_the_callback_stops_generation_and_propagates(small: LlamaEngine) -> None:
    def explode(_chunk: dict[str, Any]) -> bool:
        raise KeyError("client gone")

    with pytest.raises(KeyError, match="client gone"):
        small.chat_stream(ask("Count to fifty.", max_tokens=400), explode)
    assert content(stream(small, ask("Say yes.")))


@pytest.mark.slow
def test_close_stops_a_stream_in_progress_and_refuses_later_requests() -> None:
    engine = LlamaEngine("qwen2.5-0.5b", n_ctx=1024, parallel=1)
    engine.load()
    started = threading.Event()
    chunks: list[dict[str, Any]] = []

    def on_chunk(chunk: dict[str, Any]) -> bool:
        chunks.append(chunk)
        started.set()
        return False

    worker = threading.Thread(
        target=engine.chat_stream, args=(ask("Count from one to five hundred.", max_tokens=1500), on_chunk)
    )
    worker.start()
    assert started.wait(60)
    start = time.perf_counter()
    engine.close()
    worker.join(30)
    assert not worker.is_alive() and time.perf_counter() - start < 10
    assert len(content(chunks)) < 400  # stopped, not finished
    with pytest.raises(RuntimeError, match="closed"):
        engine.chat(ask("Say yes."))


# --- the default model ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_default_model_answers_in_the_callers_language() -> None:
    engine = LlamaEngine("qwen2.5-1.5b", n_ctx=1024, parallel=1)
    try:
        zh = engine.chat(ask("长城有多长？", max_tokens=40))["choices"][0]["message"]["content"]
        en = engine.chat(ask("What should I pack for a weekend trip?", max_tokens=40))["choices"][0][
            "message"
        ]["content"]
    finally:
        engine.close()
    assert len(CJK.findall(zh)) > 5, zh
    assert not CJK.search(en) and len(en.split()) > 5, en


@pytest.mark.slow
def test_dropping_the_oldest_turns_does_not_re_read_the_kept_ones(small: LlamaEngine) -> None:
    """The worker's memory drops its oldest turns in a block; the turns it keeps are still in the slot's
    cache, after the system prompt: llama.cpp shifts them into place (cache reuse) instead of reading
    them again (measured before: a 20-30 s turn 11 on two cores)."""
    turns: list[dict[str, str]] = []
    for i in range(10):
        turns.append({"role": "user", "content": f"Question {i}: tell me one fact about the number {i * 7}."})
        turns.append({"role": "assistant", "content": f"The number {i * 7} is {i * 7} and it is a number."})
    system = {"role": "system", "content": SYSTEM_EN}
    key = {"prompt_cache_key": "call-memory"}

    def evaluated(messages: list[dict[str, str]]) -> tuple[int, int]:
        chunks = stream(small, {"messages": messages, "max_tokens": 2, "temperature": 0.0, **key})
        timings = chunks[-1]["timings"]
        return int(timings["prompt_n"]), int(timings["prompt_n"] + timings.get("cache_n", 0))

    evaluated([system, *turns, {"role": "user", "content": "And the next one?"}])
    kept = turns[10:]  # the oldest five turns dropped at once
    read, total = evaluated([system, *kept, {"role": "user", "content": "And the one after?"}])
    kept_tokens = total - 60  # at least the system prompt's tokens came from the cache either way
    assert read < kept_tokens / 2, (read, total)
