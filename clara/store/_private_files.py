"""Clara's files are its owner's alone: the data folder 0700, the SQLite database 0600.

They hold people's conversations, memories and the key to the stored secrets; under the
usual umask (022) they would be readable by every local user.

- The data folder is created 0700. An existing one that others can enter is tightened to
  0700 (with a warning naming the old mode) when it is Clara's own: owned by Clara's user,
  not writable by everyone (a shared folder such as /tmp), and holding nothing but what
  Clara keeps there (``CLARAS_ENTRIES``; an empty folder too). Anything else is only warned
  about: pointing ``CLARA_DATA_DIR`` at a folder that is not Clara's (``/var``, a home)
  must never change who can read that folder's other files.
  Inside a 0700 folder, what Clara (or a library, such as embedded Qdrant) creates later
  cannot be reached by other users, whatever its own mode.
- The SQLite database is created 0600 by Clara before SQLite opens it. SQLite gives its
  ``-wal``, ``-shm`` and ``-journal`` files the mode of the database file (it creates them
  later, when a connection first needs them), so they follow; the ones a looser earlier
  run left are tightened here.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from ..errors import StoreError

__all__ = ["CLARAS_ENTRIES", "SIDE_FILES", "private_database_file", "private_folder"]

logger = logging.getLogger(__name__)

#: SQLite's companions of a database file, named after it.
SIDE_FILES = ("-wal", "-shm", "-journal")

#: What Clara keeps in its data folder: the store's database (and SQLite's companions) and
#: key file, mem0's folder, history and embedded Qdrant (``clara/adapters/memory``), MCP
#: servers (``clara/actors/mcp``). Names starting with the first three count too.
CLARAS_ENTRIES = ("clara.db", "encryption.key", "memory-history.db", "mem0", "qdrant", "mcp")

_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def private_folder(folder: Path, *, variable: str = "CLARA_DATA_DIR") -> None:
    """Create ``folder`` (and its parents) readable by its owner only, or tighten it.

    Raises:
        StoreError: it cannot be created, or is not a folder (the message names ``variable``).
    """
    try:
        folder.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    except OSError as error:
        raise StoreError(
            f"cannot create the folder {folder} ({variable}): {error.strerror}"
        ) from None
    try:
        info = folder.stat()
        if not stat.S_ISDIR(info.st_mode):
            raise StoreError(f"{folder} ({variable}) is not a folder")
        mode = stat.S_IMODE(info.st_mode)
        if not mode & _OTHERS:
            return
        if info.st_uid != os.geteuid() or mode & stat.S_IWOTH or not _is_claras(folder):
            logger.warning(
                "the folder %s (%s) can be entered by other users (mode %04o), so they may "
                "read Clara's files in it; it does not look like Clara's own, so it was left "
                "as it is: run chmod 700 on it, or give Clara a folder of its own",
                folder,
                variable,
                mode,
            )
            return
        os.chmod(folder, mode & ~_OTHERS)
    except OSError as error:
        raise StoreError(
            f"cannot make the folder {folder} ({variable}) private: {error.strerror}"
        ) from None
    logger.warning(
        "the folder %s (%s) could be entered by other users (mode %04o): it is now %04o",
        folder,
        variable,
        mode,
        mode & ~_OTHERS,
    )


def _is_claras(folder: Path) -> bool:
    """Holding nothing but Clara's entries (or nothing at all)."""
    files = CLARAS_ENTRIES[:3]
    return all(
        entry.name in CLARAS_ENTRIES or entry.name.startswith(files) for entry in folder.iterdir()
    )


def private_database_file(path: Path) -> None:
    """Create the SQLite file ``path`` 0600 unless it exists; tighten it and its companions.

    An empty file is an empty SQLite database, so creating it first changes nothing but
    its mode, which SQLite then gives the ``-wal``/``-shm`` files it creates.

    Raises:
        StoreError: it cannot be created or its mode cannot be changed.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as error:
        raise StoreError(f"cannot create the SQLite database {path}: {error.strerror}") from None
    else:
        os.close(descriptor)
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SIDE_FILES)):
        _owner_only(candidate)


def _owner_only(path: Path) -> None:
    try:
        info = path.stat()
        if info.st_mode & _OTHERS and info.st_uid == os.geteuid():
            os.chmod(path, stat.S_IMODE(info.st_mode) & ~_OTHERS)
    except FileNotFoundError:
        return
    except OSError as error:
        raise StoreError(f"cannot make {path} private: {error.strerror}") from None
