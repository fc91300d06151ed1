"""``CLARA_DATA_DIR``: read as a path, and checked at start-up for being usable as a folder.

The check reads the file system and changes nothing (``python -m clara config`` runs it
too): the folder is created, made private and kept private by the store when it opens
(``clara/store/_private_files.py``). Finding here that it cannot work (a file in its place,
a folder Clara may not write in, a name the system refuses) turns what was a traceback
from deep inside the first write into one line naming the variable.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import ConfigError
from .values import Parser, shown

__all__ = ["check_data_dir", "data_folder"]

DATA_DIR_VARIABLE = "CLARA_DATA_DIR"


def _folder(name: str, raw: str) -> Path:
    return Path(raw.strip())


data_folder = Parser("folder", _folder)


def check_data_dir(path: Path) -> None:
    """Raise unless Clara could use ``path`` as its data folder, or create it there.

    Raises:
        ConfigError: naming ``CLARA_DATA_DIR``, the path and what is wrong with it.
    """
    where = f"{DATA_DIR_VARIABLE} is {shown(str(path))}"
    try:
        info = path.stat()
    except FileNotFoundError:
        _check_creatable(path, where)
        return
    except OSError as error:  # a file where a folder should be, a name too long, a loop
        raise ConfigError(f"{where}, which cannot be used as a folder: {error.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{where}, which is not a folder")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise ConfigError(
            f"{where}, a folder Clara may not read and write (owner uid {info.st_uid}, mode "
            f"{stat.S_IMODE(info.st_mode):04o}; Clara runs as uid {os.geteuid()})"
        )


def _check_creatable(path: Path, where: str) -> None:
    """A missing data folder is created at start: its nearest existing parent must allow it."""
    for parent in path.absolute().parents:
        try:
            info = parent.stat()
        except FileNotFoundError:
            continue
        except OSError as error:
            raise ConfigError(
                f"{where}, which does not exist and cannot be created: {parent}: {error.strerror}"
            ) from None
        if not stat.S_ISDIR(info.st_mode):
            raise ConfigError(
                f"{where}, which does not exist and cannot be created: {parent} is not a folder"
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(
                f"{where}, which does not exist and cannot be created: Clara may not write "
                f"in {parent}"
            )
        return
