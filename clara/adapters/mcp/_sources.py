"""Where an MCP server comes from, checked against a strict grammar before anything runs.

Five kinds of source, each with an explicit prefix or an unambiguous form:

=========  ==============================================  ===================================
kind       written as                                      grammar
=========  ==============================================  ===================================
npm        ``npm:@scope/name@1.2.3``, ``name``, ``@s/n``   npm's package-name rules, version
                                                           an exact semver or a dist-tag
github     ``github:owner/repo#ref``, ``owner/repo``       GitHub's owner and repository rules,
                                                           git's ref rules
image      ``image:ghcr.io/org/server:1.0``                the OCI reference, a registry of
                                                           ``IMAGE_REGISTRIES``, sha256/sha512
url        ``https://mcp.example.com/mcp``                 ``_urls`` (https; http to loopback)
path       ``path:/srv/mcp/server.py``, ``/srv/...``       absolute, no ``..``, under a root
=========  ==============================================  ===================================

Anything else is refused with a ``SourceError`` that names what is wrong: shell syntax,
``file:`` and ``git@`` forms, npm registries chosen by the source, image registries outside
``IMAGE_REGISTRIES``, userinfo in URLs, malformed or non-ASCII look-alike hosts, IPv4 in
disguise, over-long names.

**Where a URL may point.** ``parse_source`` refuses hosts that are never reached
(link-local such as ``169.254.169.254``, unspecified, multicast, documentation, reserved:
``_hosts``). A URL on this machine or the local network (loopback, a private address, a
name such as ``localhost`` or ``*.internal``) is a server only the operator can vouch for:
``check_allowed`` accepts it only when a ``CLARA_MCP_ALLOW`` pattern names that host
literally (``http://127.0.0.1:8123/*``), never through a wildcard and never when the
allow-list is empty. A public name is resolved when it is installed (``Installer``) and
every address it has must be public.

Parsing is the grammar, ``check_allowed`` the policy: a source is acceptable after both.
"""

from __future__ import annotations

import fnmatch
import os
import re
import urllib.parse
from collections.abc import Sequence

import msgspec

from ...errors import SourceError
from ._hosts import BadHost, Network
from ._images import IMAGE_REGISTRIES, check_image
from ._urls import parse_url

__all__ = [
    "IMAGE_REGISTRIES",
    "KINDS",
    "MAX_SOURCE",
    "InstallSource",
    "SourceError",
    "check_allowed",
    "parse_source",
]

KINDS = ("npm", "github", "image", "path", "url")
MAX_SOURCE = 300
"""Characters a source may have at most (a URL may have up to 500)."""
_MAX_URL = 500

_NPM_PART = r"[a-z0-9][a-z0-9._~-]*"
_NPM_NAME = re.compile(rf"^(?:@({_NPM_PART})/)?({_NPM_PART})$")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_DIST_TAG = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
_NPM_RESERVED = {"node_modules", "favicon.ico"}

_GH_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_GH_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_GH_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,99}$")

# Characters no source of any kind may contain: shells, globs, quoting, control characters.
_FORBIDDEN = re.compile(r"[\s;&|`$<>\\\"'(){}*?!\x00-\x1f\x7f]")


class InstallSource(msgspec.Struct, frozen=True, kw_only=True):
    """A checked source: its kind, its canonical text and its parts."""

    kind: str
    canonical: str
    """``npm:@scope/name@1.2.3``, ``github:owner/repo#ref``, ``image:…``, ``path:/…``, the URL."""
    package: str = ""
    version: str = ""
    owner: str = ""
    repo: str = ""
    ref: str = ""
    image: str = ""
    path: str = ""
    url: str = ""
    network: str = ""
    """For a URL: where its host is (``public``, ``private``, ``loopback``; see ``_hosts``)."""

    @property
    def suggested_name(self) -> str:
        """A server name derived from the source (``server-everything`` for that package)."""
        base = {
            "npm": self.package.rsplit("/", 1)[-1],
            "github": self.repo,
            "image": self.image.split("@")[0].rsplit("/", 1)[-1].split(":")[0],
            "path": os.path.basename(self.path.rstrip("/")).rsplit(".", 1)[0],
            "url": (urllib.parse.urlsplit(self.url).hostname or "remote").split(".")[0],
        }[self.kind]
        name = re.sub(r"[^a-z0-9_-]+", "-", base.lower()).strip("-_")[:40]
        return name or self.kind


def _npm(spec: str) -> InstallSource:
    name, version = spec, ""
    at = spec.rfind("@")
    if at > 0:
        name, version = spec[:at], spec[at + 1 :]
        if not version:
            raise SourceError(f"npm source {spec!r}: nothing after '@' (a version or tag)")
    if len(name) > 214:
        raise SourceError(f"npm package name is {len(name)} characters; npm allows 214")
    match = _NPM_NAME.match(name)
    if match is None:
        raise SourceError(
            f"{name!r} is not an npm package name (lowercase letters, digits, '-', '.', '_', "
            "'~', optionally @scope/, not starting with '.' or '_')"
        )
    if match.group(2) in _NPM_RESERVED or (match.group(1) or "") in _NPM_RESERVED:
        raise SourceError(f"{name!r} is a name npm reserves")
    if version and not (_SEMVER.match(version) or _DIST_TAG.match(version)):
        raise SourceError(
            f"npm version {version!r}: give an exact version (1.2.3) or a tag (latest); "
            "ranges, URLs, aliases and paths are refused"
        )
    canonical = f"npm:{name}" + (f"@{version}" if version else "")
    return InstallSource(kind="npm", canonical=canonical, package=name, version=version)


def _github(spec: str) -> InstallSource:
    slug, ref = spec, ""
    if "#" in spec:
        slug, ref = spec.split("#", 1)
    elif "@" in spec:
        slug, ref = spec.split("@", 1)
    parts = slug.split("/")
    if len(parts) != 2:
        raise SourceError(f"GitHub source {spec!r}: write owner/repo (optionally #ref)")
    owner, written = parts
    repo = written.removesuffix(".git")
    if not _GH_OWNER.match(owner):
        raise SourceError(
            f"GitHub owner {owner!r}: letters, digits and single inner hyphens, 39 at most"
        )
    if repo.endswith(".git"):
        raise SourceError(f"GitHub repository {written!r} ends in '.git' more than once")
    if not _GH_REPO.match(repo) or repo in (".", "..") or repo.startswith("-"):
        raise SourceError(
            f"GitHub repository {repo!r}: letters, digits, '.', '-', '_', 100 at most, "
            "not starting with '-'"
        )
    if ref:
        _check_ref(ref)
    canonical = f"github:{owner}/{repo}" + (f"#{ref}" if ref else "")
    return InstallSource(kind="github", canonical=canonical, owner=owner, repo=repo, ref=ref)


def _check_ref(ref: str) -> None:
    """git's ref rules (``git check-ref-format``), narrowed to plain names."""
    components = ref.split("/")
    if (
        not _GH_REF.match(ref)
        or ".." in ref
        or "//" in ref
        or ref.endswith(("/", "."))
        or any(part.startswith(".") or part.endswith(".lock") for part in components)
    ):
        raise SourceError(f"git ref {ref!r} is not a plain branch, tag or commit name")


def _image(spec: str, registries: Sequence[str]) -> InstallSource:
    check_image(spec, registries)
    return InstallSource(kind="image", canonical=f"image:{spec}", image=spec)


def _path(spec: str, roots: Sequence[str]) -> InstallSource:
    if not spec.startswith("/"):
        raise SourceError(f"path {spec!r} must be absolute")
    if any(part == ".." for part in spec.split("/")):
        raise SourceError(f"path {spec!r} contains '..' (path traversal)")
    real = os.path.realpath(spec)
    allowed = [os.path.realpath(root) for root in roots if root]
    if not any(real == root or real.startswith(root.rstrip("/") + "/") for root in allowed):
        where = ", ".join(allowed) if allowed else "none configured (CLARA_MCP_PATH_ROOTS)"
        raise SourceError(f"path {spec!r} is outside the allowed folders: {where}")
    if not os.path.exists(real):
        raise SourceError(f"path {spec!r} does not exist")
    return InstallSource(kind="path", canonical=f"path:{real}", path=real)


def _url(spec: str) -> InstallSource:
    if len(spec) > _MAX_URL:
        raise SourceError(f"the URL is {len(spec)} characters; {_MAX_URL} at most")
    try:
        url = parse_url(spec)
    except BadHost as error:
        raise SourceError(f"URL source: {error}") from None
    if url.scheme == "http" and url.host.network is not Network.LOOPBACK:
        raise SourceError(
            "URL source: plain http is allowed to this machine (loopback) only; use https"
        )
    canonical = url.text()
    return InstallSource(
        kind="url", canonical=canonical, url=canonical, network=url.host.network.value
    )


def parse_source(
    text: str,
    *,
    path_roots: Sequence[str] = (),
    kinds: Sequence[str] | None = None,
    registries: Sequence[str] = IMAGE_REGISTRIES,
) -> InstallSource:
    """Check ``text`` against the grammars; the source, or ``SourceError`` naming the problem.

    With ``kinds``, a source of another kind is refused before its own checks run. An image
    may name only a registry of ``registries``. The result still has to pass
    ``check_allowed`` (which alone decides on URLs inside this machine or network).
    """
    if not isinstance(text, str) or not text:
        raise SourceError("the source is empty")
    limit = _MAX_URL if text.startswith(("https://", "http://")) else MAX_SOURCE
    if len(text) > limit:
        raise SourceError(f"the source is {len(text)} characters; {limit} at most")
    forbidden = _FORBIDDEN.search(text)
    if forbidden is not None:
        raise SourceError(
            f"the source contains {forbidden.group()!r}: spaces, quotes and shell characters "
            "are refused"
        )
    lowered = text.lower()
    if lowered.startswith(("file:", "git@", "git+", "git:", "ssh:", "ssh+")):
        raise SourceError(
            f"{text!r}: file:, git@, git+ and ssh sources are refused; use npm:, github:, "
            "image:, path: or an https URL"
        )
    if lowered.startswith(("npm:", "github:", "image:")) and "://" in lowered:
        raise SourceError(
            f"{text!r}: a URL inside an npm:, github: or image: source is refused (the "
            "registry is Clara's setting, never the source's)"
        )
    kind, rest = _kind_of(text)
    if kinds is not None and kind not in kinds:
        raise SourceError(
            f"{kind} sources are not allowed here (CLARA_MCP_ALLOWED_SOURCES="
            f"{','.join(kinds) or 'none'})"
        )
    if kind == "url":
        return _url(rest)
    if kind == "path":
        return _path(rest, path_roots)
    if kind == "image":
        return _image(rest, registries)
    if kind == "github":
        return _github(rest)
    return _npm(rest)


def _kind_of(text: str) -> tuple[str, str]:
    """The kind a source is written as, and the rest of it."""
    if text.lower().startswith(("https://", "http://")):
        return "url", text
    if "://" in text:
        raise SourceError(f"URL scheme of {text!r} is refused: use https")
    for prefix in ("npm", "github", "image", "path"):
        if text.startswith(f"{prefix}:"):
            return prefix, text[len(prefix) + 1 :]
    if text.startswith("/"):
        return "path", text
    if text.startswith((".", "~")):
        raise SourceError(f"path {text!r} must be absolute")
    if ":" in text:
        raise SourceError(
            f"{text!r}: unknown source prefix; use npm:, github:, image:, path: or an https URL"
        )
    if text.startswith("@") or "/" not in text:
        return "npm", text
    return "github", text


def check_allowed(source: InstallSource, kinds: Sequence[str], patterns: Sequence[str]) -> None:
    """Refuse a source whose kind is not enabled, that no allow-list pattern matches, or that
    is a URL inside this machine or network which no pattern names literally."""
    if source.kind not in kinds:
        raise SourceError(
            f"{source.kind} sources are not allowed here (CLARA_MCP_ALLOWED_SOURCES="
            f"{','.join(kinds) or 'none'})"
        )
    matching = [p for p in patterns if fnmatch.fnmatchcase(source.canonical, p)]
    if patterns and not matching:
        raise SourceError(f"{source.canonical} matches no pattern of CLARA_MCP_ALLOW")
    if source.kind == "url":
        _check_named(source, matching)


def _check_named(source: InstallSource, matching: Sequence[str]) -> None:
    """A URL inside this machine or network passes only when a matching pattern writes its
    host out in full (the operator vouches for that one server, not for a range)."""
    try:
        url = parse_url(source.url)
    except BadHost as error:
        raise SourceError(f"URL source: {error}") from None
    if url.host.network is Network.PUBLIC:
        return
    host = url.host.in_url
    if any(_pattern_host(pattern) == host for pattern in matching):
        return
    raise SourceError(
        f"{source.canonical}: {url.host.reason}. A server on this machine or network is "
        f"installed only when CLARA_MCP_ALLOW names its host (such as {url.origin}/*), "
        "never through a wildcard"
    )


def _pattern_host(pattern: str) -> str | None:
    """The host a URL pattern writes literally (no glob characters), lower-cased, or None."""
    match = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#@]*)", pattern)
    if match is None:
        return None
    authority = match.group(1)
    host = authority.partition(":")[0] if not authority.startswith("[") else authority
    if not host or any(char in host for char in "*?[]"):
        return None
    return host.lower()
