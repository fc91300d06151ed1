"""The README's code keeps working: its ChannelActor example runs as written."""

from pathlib import Path
from typing import Any

import trio
import trio.testing

from clara.testing import throwaway_database

README = Path(__file__).resolve().parent.parent / "README.md"


def code_block_starting(first_line: str) -> str:
    text = README.read_text()
    start = text.index(first_line)
    return text[start : text.index("```", start)]


def test_the_readme_channel_actor_example_runs_as_written(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {}
    source = "import pytest\nimport trio\n" + code_block_starting(
        "from clara.actors.channel import ChannelActor"
    )
    exec(compile(source, "README.md", "exec"), namespace)
    clock = trio.testing.MockClock(autojump_threshold=0)
    with throwaway_database(tmp_path) as database:
        trio.run(namespace["test_a_mention_gets_one_reply"], clock, database, clock=clock)
