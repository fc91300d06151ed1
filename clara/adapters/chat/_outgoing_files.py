"""Files going out with a reply, cut to what Discord accepts in one message."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath, PureWindowsPath

MAX_FILES = 10
"""Discord takes at most 10 attachments a message."""
MAX_BYTES = 10 * 1024 * 1024
"""Discord's upload limit for a server without boosts (10 MiB in all, per message)."""


def fit_files(
    files: Iterable[tuple[str, bytes]], *, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The files that fit, in order, with plain names; and a note for each one left out.

    A name loses any folders (a tool cannot write ``../x`` into a path on the far side).
    """
    kept: list[tuple[str, bytes]] = []
    notes: list[str] = []
    total = 0
    for raw_name, data in files:
        name = PureWindowsPath(PurePosixPath(raw_name).name).name.strip() or "file"
        if len(kept) >= max_files:
            notes.append(f"{name} was not attached: at most {max_files} files go with a reply")
        elif total + len(data) > max_bytes:
            notes.append(
                f"{name} was not attached: {len(data) / 1048576:.1f} MB would pass the "
                f"{max_bytes / 1048576:.0f} MB limit"
            )
        else:
            kept.append((name, data))
            total += len(data)
    return kept, notes
