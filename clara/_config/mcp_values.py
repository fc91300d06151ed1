"""The MCP settings that decide what runs on this machine, and with what reach.

Each is checked when it is read, not where it is used: an installation is the wrong time
to find that the container engine is an arbitrary command, that image-source servers
share the host's network (and so reach the status endpoint, the database and everything
else on loopback), that packages come over plain http from another machine, or that a
path root is relative (so it means a different folder from each working directory).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..errors import ConfigError
from .addresses import url
from .values import Parser, shown

__all__ = ["container_engine", "container_network", "npm_registry", "path_roots"]

ENGINES = ("podman", "docker")

_NETWORK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _container_engine(name: str, raw: str) -> str:
    value = raw.strip()
    path = PurePosixPath(value)
    if value in ENGINES or (path.is_absolute() and path.name in ENGINES and ".." not in path.parts):
        return value
    raise ConfigError(
        f"{name} must be podman or docker, or the absolute path of one (e.g. "
        f"/usr/bin/podman); got {shown(value)}"
    )


def _container_network(name: str, raw: str) -> str:
    value = raw.strip()
    if value.lower() == "host":
        raise ConfigError(
            f"{name} must not be host: a server on the host's network reaches everything this "
            "machine serves on loopback (the status endpoint, the database, other services). "
            f"Use none, or an engine network such as bridge; got {shown(value)}"
        )
    if not _NETWORK.fullmatch(value):
        raise ConfigError(
            f"{name} must be none or the name of an engine network (letters, digits, '.', '_', "
            f"'-'; not a mode such as container:NAME or ns:PATH); got {shown(value)}"
        )
    return value


def _path_roots(name: str, raw: str) -> tuple[str, ...]:
    roots: list[str] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        path = PurePosixPath(item)
        if not path.is_absolute() or ".." in path.parts:
            raise ConfigError(
                f"{name} must be absolute folders (starting with /, without ..), "
                f"comma-separated; got {shown(item)}"
            )
        if path == PurePosixPath("/"):
            raise ConfigError(
                f"{name} must not be / (every file of the machine could be installed as a "
                "server); name the folders MCP servers live in"
            )
        roots.append(str(path))
    return tuple(roots)


container_engine = Parser("container_engine", _container_engine)
container_network = Parser("container_network", _container_network)
#: https, or plain http only to a registry on this machine (a local mirror, a test's).
npm_registry = Parser("secure_url", url("https", "http", loopback_only=("http",)).read)
path_roots = Parser("absolute_folders", _path_roots)
