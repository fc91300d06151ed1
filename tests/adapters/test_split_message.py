"""Long replies in pieces Discord accepts, with code blocks that stay code blocks."""

import random

import pytest

from clara.adapters.chat import split_message

FENCE = "```"


def python_block(lines: int) -> str:
    body = "\n".join(f"    value_{n} = compute({n}) + {n * 7}" for n in range(lines))
    return f"Here is the script:\n\n```python\ndef main():\n{body}\n```\n\nRun it with python."


def test_a_short_text_is_one_piece_and_an_empty_one_none() -> None:
    assert split_message("hello") == ["hello"]
    assert split_message("") == []


def test_a_code_block_split_across_pieces_reopens_with_its_language() -> None:
    pieces = split_message(python_block(200), limit=2000)
    assert len(pieces) >= 3
    assert all(len(piece) <= 2000 for piece in pieces)
    for piece in pieces[1:-1]:
        assert piece.startswith("```python\n")  # highlighted as Python, not plain text
        assert piece.endswith("\n```")
    assert pieces[0].endswith("\n```")
    assert pieces[-1].startswith("```python\n")
    assert all(piece.count(FENCE) % 2 == 0 for piece in pieces)  # every piece renders


def test_a_fence_without_a_language_reopens_plain() -> None:
    text = "```\n" + "\n".join(f"line {n}" for n in range(600)) + "\n```"
    pieces = split_message(text, limit=500)
    assert all(len(piece) <= 500 for piece in pieces)
    assert all(piece.startswith("```\n") for piece in pieces)


def test_text_after_a_closed_block_is_not_reopened_as_code() -> None:
    text = "```js\nlet a = 1;\n```\n\n" + "words " * 800
    pieces = split_message(text, limit=1000)
    assert pieces[0].startswith("```js\nlet a = 1;\n```")
    assert not any(piece.startswith(FENCE) for piece in pieces[1:])


@pytest.mark.parametrize("seed", range(20))
def test_pieces_fit_the_limit_and_keep_every_word(seed: int) -> None:
    rng = random.Random(seed)
    parts = []
    for _ in range(rng.randint(5, 40)):
        if rng.random() < 0.3:
            tag = rng.choice(["", "python", "rust", "sh"])
            code = "\n".join("x" * rng.randint(1, 60) for _ in range(rng.randint(1, 30)))
            parts.append(f"```{tag}\n{code}\n```")
        else:
            parts.append(" ".join("w" * rng.randint(1, 12) for _ in range(rng.randint(1, 80))))
    text = "\n\n".join(parts)
    limit = rng.choice([200, 500, 2000])
    pieces = split_message(text, limit=limit)
    assert all(len(piece) <= limit for piece in pieces)
    assert all(piece.count(FENCE) % 2 == 0 for piece in pieces)
    words = [word for word in text.split() if FENCE not in word]
    rejoined = [word for piece in pieces for word in piece.split() if FENCE not in word]
    assert rejoined == words
