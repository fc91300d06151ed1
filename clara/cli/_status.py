"""``python -m clara status``: the status endpoint's tree, drawn in a terminal."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

import httpx
import msgspec

from ..config import StatusSettings

__all__ = ["StatusCommandError", "render_tree", "run_status"]

_TROUBLE = {"backing_off", "failed", "stopping"}


class StatusCommandError(Exception):
    """The status could not be fetched; the message says why and where."""


def run_status(arguments: argparse.Namespace, settings: StatusSettings, out: TextIO) -> int:
    url = (arguments.url or settings.url).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise StatusCommandError(f"--url must start with http:// or https://; got {url!r}")
    params: list[tuple[str, str | int | float | bool | None]] = []
    if arguments.path:
        params.append(("path", arguments.path))
    for state in arguments.state or ():
        params.append(("state", state))
    if getattr(arguments, "all", False) and not params:
        params.append(("view", "tree"))
    headers = {}
    if settings.token is not None:
        headers["Authorization"] = f"Bearer {settings.token.reveal()}"
    try:
        response = httpx.get(
            f"{url}/status", params=params, headers=headers, timeout=arguments.timeout
        )
    except httpx.HTTPError as error:
        raise StatusCommandError(
            f"cannot reach {url}/status ({type(error).__name__}: {error}); is Clara running, "
            "and is CLARA_STATUS_HOST / CLARA_STATUS_PORT (or --url) right?"
        ) from None
    if response.status_code == 401:
        raise StatusCommandError(
            f"{url}/status wants a token: set CLARA_STATUS_TOKEN to the one Clara runs with"
        )
    if response.status_code != 200:
        try:
            reason = response.json().get("error", response.text)
        except ValueError:
            reason = response.text[:200]
        raise StatusCommandError(f"{url}/status answered {response.status_code}: {reason}")
    if arguments.json:
        out.write(response.text + "\n")
        document = msgspec.json.decode(response.content)
    else:
        try:
            document = msgspec.json.decode(response.content)
        except msgspec.DecodeError as error:
            raise StatusCommandError(f"{url}/status did not send JSON: {error}") from None
        out.write(render_tree(document))
    troubled = any(node.get("state") in _TROUBLE for node in document.get("nodes", []))
    return 1 if arguments.check and troubled else 0


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _detail(node: dict[str, Any]) -> str:
    parts: list[str] = []
    if node.get("type") == "supervisor":
        parts.append(
            f"restarts {node['restarts']} ({node['restarts_in_window']} in "
            f"{node['max_seconds']:g} s window)"
        )
        parts.append(f"{node['child_count']} children")
    else:
        box = node.get("mailbox") or {}
        parts.append(f"mailbox {box.get('depth', 0)}/{box.get('capacity', 0)}")
        parts.append(f"processed {node.get('processed', 0)}")
        if node.get("restarts"):
            parts.append(f"restarts {node['restarts']}")
        if node.get("dead_letters"):
            parts.append(f"dead letters {node['dead_letters']}")
    backoff = node.get("backoff")
    if backoff and backoff.get("next_start_in") is not None:
        parts.append(
            f"restart {backoff['attempt']} in {backoff['next_start_in']:.2f} s "
            f"(delay {backoff['delay']:.2f} s)"
        )
    failure = node.get("last_failure")
    if failure:
        parts.append(f"last failure {failure['type']}: {failure['message']}")
    return "  ".join(parts)


def render_tree(document: dict[str, Any]) -> str:
    """The document as an indented tree, one line per node, trouble marked with ``!``."""
    summary = document["summary"]
    lines = [
        f"Clara {document['version']}, up {_duration(document['uptime_seconds'])}: "
        f"{summary['actors']} actors, {summary['supervisors']} supervisors, "
        f"{summary['restarts']} restarts, {document['dead_letters']['total']} dead letters"
    ]
    nodes: list[dict[str, Any]] = document["nodes"]
    paths = {node["path"] for node in nodes}
    children: dict[str, list[str]] = {}
    for node in nodes:
        parent = node["path"].rsplit("/", 1)[0]
        if parent in paths:
            children.setdefault(parent, []).append(node["path"])
    by_path = {node["path"]: node for node in nodes}
    width = max((len(node["kind"]) for node in nodes), default=10)

    def draw(path: str, prefix: str, last: bool, top: bool) -> None:
        node = by_path[path]
        name = path if top else path.rsplit("/", 1)[1]
        branch = "" if top else ("└── " if last else "├── ")
        mark = "!" if node["state"] in _TROUBLE else " "
        state = node["state"].replace("_", " ")
        label = f"{prefix}{branch}{name}"
        lines.append(
            f"{mark} {label:<40} {node['kind']:<{width}}  {state:<11}  {_detail(node)}".rstrip()
        )
        below = children.get(path, [])
        for index, child in enumerate(below):
            extension = "" if top else ("    " if last else "│   ")
            draw(child, prefix + extension, index == len(below) - 1, False)

    for node in nodes:
        parent = node["path"].rsplit("/", 1)[0]
        if parent not in paths:
            draw(node["path"], "", True, True)
    if document.get("truncated"):
        lines.append(f"(truncated at {document['query']['limit']} nodes)")
    if not nodes:
        lines.append("(no node matches)")
    return "\n".join(lines) + "\n"
