"""Nonces are the same in every process (issue 14, item 1): what one Clara posted, the next
one, resuming after a kill, posts with the same nonces, and the fake Discord (which keeps
nonces as Discord's ``enforce_nonce`` does) shows each piece once.

Python randomises ``hash()`` of a string per process (``PYTHONHASHSEED``); a nonce derived
from it differs after a restart, and a resumed reply would post its progress lines again.
Each process here gets a different seed. Real processes: ``python -c`` for the nonces of
a fixed set of pieces, and ``python run.py`` killed mid-reply and started again, with the
harness of ``test_deploys.py`` (waits on conditions, never on fixed sleeps).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clara.testing import Reply
from tests.test_deploys import REPO, chat_requests, eventually, world

#: Posts, through the real ChannelOutbox, a three-piece reply, every kind of notice and six
#: progress lines about one message; prints their nonces.
NONCES_OF_EVERY_PIECE = textwrap.dedent(
    """
    import json, trio
    from clara.actors.channel.inbox import ChannelInbox, Draft
    from clara.actors.channel.outbox import ChannelOutbox
    from clara.testing import FakeTransport, incoming

    async def main():
        transport = FakeTransport()
        inbox = ChannelInbox(None, "discord", "100", lambda *a, **k: None)
        outbox = ChannelOutbox(transport, "100", lambda: inbox, lambda *a, **k: None)
        message = incoming("hi", message_id="1234567890123456789")
        draft = Draft(text=("lorem ipsum " * 375).strip(), files=[], covers=["1"])
        await outbox.reply(message, draft, 0, None)
        kinds = ["busy", "rate", "queued", "stop", "stopped", "failed", "expired"]
        for kind in kinds + [f"progress-{line}" for line in range(1, 7)]:
            await outbox.notice(message, kind, kind)
        print(json.dumps([sent.nonce for sent in transport.sent]))

    trio.run(main)
    """
)


def nonces_in_a_process(hash_seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", NONCES_OF_EVERY_PIECE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    nonces: list[str] = json.loads(done.stdout)
    return nonces


def test_two_processes_with_different_hash_seeds_give_every_piece_the_same_nonce() -> None:
    first, second = nonces_in_a_process("1"), nonces_in_a_process("2")
    assert len(first) == 3 + 7 + 6
    assert len(set(first)) == len(first)  # distinct for every piece
    assert second == first  # and the same in another process


@pytest.mark.trio
async def test_progress_lines_posted_before_a_kill_are_not_posted_again_after_it(
    tmp_path: Path,
) -> None:
    calls = tuple(("clara__current_time", {"time_zone": zone}) for zone in ("UTC", "Asia/Tokyo"))
    line = "-# using clara__current_time…"
    async with world(tmp_path, {}) as w:
        w.model.script(Reply(tool_calls=calls * 2), Reply("too late", delay=60))
        async with w.clara(PYTHONHASHSEED="1") as clara:
            asked = await w.post("what time is it, four times over?")
            await eventually(lambda: chat_requests(w) == 2, "the tools to be used")
            assert [p.content for p in w.discord.posted] == [line] * 4  # each line arrived
            clara.kill()  # the answer was being written
            await clara.process.wait()

        # Another process (another hash seed) makes the reply again from the start: the
        # same tools, the same progress lines, with the nonces they had.
        w.model.script(Reply(tool_calls=calls * 2), Reply("Four clocks read."))
        async with w.clara(PYTHONHASHSEED="2") as clara:
            await eventually(lambda: w.replies_to(asked) != [], "the resumed answer")
            assert await clara.terminate() == 0
        assert [p.content for p in w.discord.posted] == [line] * 4 + ["Four clocks read."]
        assert [p.content for p in w.discord.repeats] == [line] * 4
        assert chat_requests(w) == 4


@pytest.mark.trio
async def test_a_reply_killed_between_its_pieces_is_finished_without_a_piece_twice(
    tmp_path: Path,
) -> None:
    text = " ".join(f"word{n:04d}" for n in range(500))  # 4,499 characters: three pieces
    async with world(tmp_path, {}) as w:
        w.model.script(Reply(text))
        w.discord.stall_posts(after=1)  # the second piece is made, but Clara never hears so
        async with w.clara(PYTHONHASHSEED="1") as clara:
            asked = await w.post("write a lot")
            await eventually(lambda: len(w.discord.posted) == 2, "the second piece")
            clara.kill()
            await clara.process.wait()
        w.discord.stall_posts(None)

        async with w.clara(PYTHONHASHSEED="2") as clara:
            await eventually(lambda: len(w.discord.posted) >= 3, "the rest of the reply")
            await w.post("thanks")  # one more, so anything doubled would have arrived first
            await eventually(lambda: len(w.discord.posted) >= 4, "the second answer")
            assert await clara.terminate() == 0
        pieces = [p.content for p in w.discord.posted[:3]]
        assert " ".join(pieces).split() == text.split()  # each piece once, in order
        assert [p.reference for p in w.discord.posted[:3]] == [asked, None, None]
        assert w.discord.posted[3].content == "ok"
        # The piece cut off in flight was sent again, with its nonce, and kept back (so was
        # the first, if its note had not reached the store before the kill).
        repeated = [p.content for p in w.discord.repeats]
        assert pieces[1] in repeated and set(repeated) <= set(pieces[:2])
        assert chat_requests(w) == 2  # the reply was resumed, not made again
