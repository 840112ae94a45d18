"""Where a streamed reply is cut for the TTS (agent_worker/speech_chunks.py)."""

from __future__ import annotations

import pytest

from agent_worker.speech_chunks import ClauseTokenizer, split_clauses


def pieces(text: str) -> list[str]:
    return [p for p, _, _ in split_clauses(text)]


def test_cut_after_clauses_with_light_ones_merged_forward() -> None:
    assert pieces("好的，我明白了。你想去哪里？") == ["好的，", "我明白了。", "你想去哪里？"]
    assert pieces("OK, sure. The museum opens at 9.30 today.") == [
        "OK, sure.",
        "The museum opens at 9.30 today.",
    ]
    assert pieces("嗯，好。") == ["嗯，好。"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("好的，我明白了。😊", ["好的，", "我明白了。😊"]),
        ("Sure, here you go! ...", ["Sure, here you go! ..."]),
        ("！", []),
        ("🙂", []),
    ],
)
def test_nothing_unspeakable_is_sent_to_the_voice(reply: str, expected: list[str]) -> None:
    """A piece with no letters or digits is a 400 from any TTS ("nothing to speak"): it joins the clause
    before it, or is dropped when there is none."""
    assert pieces(reply) == expected
    assert ClauseTokenizer().tokenize(reply) == expected


async def test_the_stream_never_emits_a_bare_mark() -> None:
    stream = ClauseTokenizer().stream()
    for token in ["You're", " welcome", "!", " 🙂", "!"]:
        stream.push_text(token)
    stream.end_input()
    out = [ev.token async for ev in stream]
    assert out and all(any(ch.isalnum() for ch in piece) for piece in out), out
