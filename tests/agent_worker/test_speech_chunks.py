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


async def stream_pieces(tokens: list[str], first_piece_words: int, first_piece_chars: int = 0) -> list[str]:
    tokenizer = ClauseTokenizer(first_piece_words=first_piece_words, first_piece_chars=first_piece_chars)
    stream = tokenizer.stream()
    for token in tokens:
        stream.push_text(token)
    stream.end_input()
    return [ev.token async for ev in stream]


async def test_a_long_english_first_clause_is_cut_after_its_first_words_once() -> None:
    reply = "The time it takes to learn to swim can vary greatly depending on several factors, like age."
    tokens = [reply[i : i + 3] for i in range(0, len(reply), 3)]  # as a model streams it
    assert await stream_pieces(tokens, 4) == [
        "The time it takes",
        "to learn to swim can vary greatly depending on several factors,",
        "like age.",
    ]
    assert (await stream_pieces(tokens, 0))[
        0
    ] == "The time it takes to learn to swim can vary greatly depending on several factors,"
    # a first clause within the limit keeps its clause, and so does Mandarin by words
    assert await stream_pieces(["To boil an egg, place", " it in water."], 4) == [
        "To boil an egg,",
        "place it in water.",
    ]
    zh = "你可以尝试调整你的睡眠环境，比如保持安静。"
    assert await stream_pieces(list(zh), 2) == ["你可以尝试调整你的睡眠环境，", "比如保持安静。"]


# Mandarin as Qwen streams it: common words are one token each
SLEEP = ["你", "可以", "尝试", "调整", "你的", "睡眠", "环境", "，", "比如", "保持", "安静", "。"]


async def test_a_long_mandarin_first_clause_is_cut_after_its_first_characters_at_a_token_end() -> None:
    assert await stream_pieces(SLEEP, 0, 4) == ["你可以尝试", "调整你的睡眠环境，", "比如保持安静。"]
    # never inside a token: after 可以 (3 characters) comes 尝试, so the cut waits for its end
    assert await stream_pieces(SLEEP, 0, 3) == ["你可以", "尝试调整你的睡眠环境，", "比如保持安静。"]
    assert (await stream_pieces(SLEEP, 0, 0))[0] == "你可以尝试调整你的睡眠环境，"
    # the English word limit does not apply to a Mandarin reply
    assert await stream_pieces(SLEEP, 4, 4) == ["你可以尝试", "调整你的睡眠环境，", "比如保持安静。"]


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        # a clause one character longer than the cut: not left with a one-character piece
        (["你", "可以", "试", "试", "，", "比如", "早睡", "。"], ["你可以试试，", "比如早睡。"]),
        # a clause that ends before the cut point is spoken as it is
        (["好的", "，", "我", "明白", "了", "。"], ["好的，", "我明白了。"]),
        # one token that holds the whole clause: no token ends inside it to cut at
        (["周末可以带孩子去公园", "、", "博物馆", "。"], ["周末可以带孩子去公园、", "博物馆。"]),
    ],
)
async def test_a_mandarin_first_piece_is_cut_only_where_two_characters_follow(
    tokens: list[str], expected: list[str]
) -> None:
    assert await stream_pieces(tokens, 4, 4) == expected


def test_a_whole_mandarin_text_has_no_token_ends_and_keeps_its_clauses() -> None:
    text = "".join(SLEEP)
    whole = ClauseTokenizer(first_piece_chars=4).tokenize(text)
    assert whole == ["你可以尝试调整你的睡眠环境，", "比如保持安静。"]
    assert [p for p, _, _ in split_clauses(text, first_piece_chars=4, token_ends=[1, 3, 5])] == [
        "你可以尝试",
        "调整你的睡眠环境，",
        "比如保持安静。",
    ]


def test_the_first_piece_is_cut_only_between_whole_words() -> None:
    assert pieces_with("Sure! If you're interested in science fiction, read it.", 4) == [
        "Sure! If you're interested",
        "in science fiction,",
        "read it.",
    ]
    # the fifth word has not begun: the fourth may still be growing ("tak" → "takes")
    assert pieces_with("The time it tak", 4) == ["The time it tak"]
    assert pieces_with("The time it takes", 4) == ["The time it takes"]
    assert pieces_with("The time it takes t", 4) == ["The time it takes", "t"]


def pieces_with(text: str, first_piece_words: int) -> list[str]:
    return [p for p, _, _ in split_clauses(text, first_piece_words=first_piece_words)]
