"""Building the sandbox image on this machine, when no registry can be reached.

The docker backend needs an image with a shell, coreutils and ``python3`` (its run wrapper is
a small Python program). Where a registry is reachable an operator can pull or build any such
image; where none is (these machines, CI), ``ensure_image`` makes one from Debian's packages:
``debootstrap --variant=minbase --include=python3,python3-pip bookworm`` into a temporary
folder, then ``tar | podman import`` (or ``docker import``) under the given name, with
``HOME=/work``. It takes about a minute once; afterwards the image is found by name and
nothing is built.

Operators::

    python -c "from clara.adapters.sandbox import ensure_image; ensure_image()"

(as root, with ``debootstrap`` and ``podman`` or ``docker`` installed). The import talks to
the engine through its CLI, so the image lands in the store the engine's API serves.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from ._types import SandboxError

__all__ = ["DEFAULT_IMAGE", "ensure_image"]

logger = logging.getLogger(__name__)

DEFAULT_IMAGE = "localhost/clara-sandbox:2"
"""The name ``ensure_image`` builds under (bump the tag when the recipe changes)."""

_SUITE = "bookworm"

_PACKAGES = "python3,python3-pip"
"""What debootstrap adds to its minimal base: Python, and pip for ``install_package``."""

_ENVIRONMENT = ("HOME=/work",)
"""The image's environment (every run's too). The sandbox's user, ``nobody``, has the home
``/nonexistent`` on a read-only root; with ``HOME=/work`` the person's files, pip's ``--user``
installs (``/work/.local``, on ``sys.path`` of every later run) and any program's dotfiles
land in the one writable folder that lasts between runs."""


def ensure_image(
    name: str = DEFAULT_IMAGE,
    *,
    engine: str = "podman",
    suite: str = _SUITE,
    mirror: str | None = None,
    timeout: float = 900.0,
) -> bool:
    """Make sure the engine has the image ``name``; build it when it does not.

    Args:
        name: the image's name (``localhost/...`` for one built here).
        engine: the CLI that imports it (``podman`` or ``docker``).
        suite: the Debian release debootstrap installs.
        mirror: a Debian mirror URL (debootstrap's default when None).
        timeout: seconds each step may take.

    Returns:
        True when it was built now, False when it was there already.

    Raises:
        SandboxError: a tool is missing, or a step failed (the message has its output's end).
    """
    if shutil.which(engine) is None:
        raise SandboxError(f"cannot build the sandbox image: {engine!r} is not installed")
    exists = subprocess.run(
        [engine, "image", "inspect", "--", name], capture_output=True, check=False, timeout=60
    )
    if exists.returncode == 0:
        return False
    if shutil.which("debootstrap") is None:
        raise SandboxError(
            f"the sandbox image {name!r} is missing and debootstrap is not installed to build it"
        )
    logger.info("building the sandbox image %s with debootstrap (%s)", name, suite)
    with tempfile.TemporaryDirectory(prefix="clara-sandbox-image-") as folder:
        root = Path(folder) / "root"
        command = ["debootstrap", "--variant=minbase", f"--include={_PACKAGES}", suite, str(root)]
        if mirror:
            command.append(mirror)
        _step(command, "debootstrap", timeout=timeout)
        # The mount point of the work directory's tmpfs. podman copies an image folder's
        # mode onto the tmpfs mounted over it ("tmpcopyup"), so it must be writable by the
        # sandbox's user already here (sticky, like /tmp).
        (root / "work").mkdir(exist_ok=True)
        (root / "work").chmod(0o1777)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        try:
            _step(
                [
                    engine,
                    "import",
                    "--change",
                    "WORKDIR /work",
                    *(flag for env in _ENVIRONMENT for flag in ("--change", f"ENV {env}")),
                    "-",
                    name,
                ],
                f"{engine} import",
                timeout=timeout,
                stdin=tar.stdout,
            )
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait(timeout=timeout)
    logger.info("built the sandbox image %s", name)
    return True


def _step(command: list[str], what: str, *, timeout: float, stdin: IO[bytes] | None = None) -> None:
    try:
        done = subprocess.run(
            command,
            stdin=stdin,
            capture_output=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"building the sandbox image: {what} took over {timeout:g} s") from exc
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip()[-600:]
        raise SandboxError(f"building the sandbox image: {what} failed: {tail}")
