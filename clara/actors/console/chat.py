"""ConsoleChat: a terminal chat with Clara, through the same channel actor path as Discord."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

import trio

from ...adapters.console import console_message
from ...errors import ClaraError
from .. import Actor, ActorRef
from ..channel import Converse

__all__ = ["ConsoleChat"]

logger = logging.getLogger(__name__)

BANNER = (
    "Clara is listening (console chat: no DISCORD_BOT_TOKEN is set).\n"
    "Type a message and press Enter; Ctrl-D quits.\n"
)


class ConsoleChat(Actor):
    """Reads lines from the terminal and hands each to the console's channel actor.

    Args:
        channel: returns the console channel's ref (started on first use).
        on_end: called when the input ends (Ctrl-D), to stop Clara.
        stdin / stdout: the terminal.
    """

    def __init__(
        self,
        channel: Callable[[], Any],
        on_end: Callable[[], None],
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self._channel = channel
        self._on_end = on_end
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout

    async def on_start(self) -> None:
        self.context.start_task(self._chat, name="console")

    async def on_receive(self, message: Any) -> Any:
        raise TypeError(f"ConsoleChat does not handle {type(message).__name__}")

    def _prompt(self) -> None:
        self._stdout.write("you> ")
        self._stdout.flush()

    async def _chat(self) -> None:
        self._stdout.write(BANNER)
        channel: ActorRef = await self._channel()
        while True:
            self._prompt()
            line = await trio.to_thread.run_sync(self._stdin.readline, abandon_on_cancel=True)
            if not line:  # end of input
                self._stdout.write("\n")
                self._on_end()
                return
            text = line.strip()
            if not text:
                continue
            try:
                await channel.ask(Converse(message=console_message(text)), timeout=None)
            except ClaraError as error:
                self._stdout.write(f"clara> (something went wrong: {error})\n")
            except Exception as error:  # the chat must outlive any one failure
                # Not Clara's own error (a bug, a library's): the person is told and the
                # chat goes on reading. The traceback only at DEBUG: a database error's text
                # holds its statement's parameters, which are what people said.
                logger.error("console: the message was not answered: %s", type(error).__name__)
                logger.debug("console: the failure", exc_info=True)
                self._stdout.write(
                    f"clara> (something went wrong: {type(error).__name__}; "
                    "see the log, and try again)\n"
                )
