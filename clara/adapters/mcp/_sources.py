"""Where an MCP server comes from, checked against a strict grammar before anything runs.

Five kinds of source, each with an explicit prefix or an unambiguous form:

=========  ==============================================  ===================================
kind       written as                                      grammar
=========  ==============================================  ===================================
npm        ``npm:@scope/name@1.2.3``, ``name``, ``@s/n``   npm's package-name rules, version
                                                           an exact semver or a dist-tag
github     ``github:owner/repo#ref``, ``owner/repo``       GitHub's owner and repository rules
image      ``image:ghcr.io/org/server:1.0``                the OCI distribution reference
path       ``path:/srv/mcp/server.py``, ``/srv/...``       absolute, no ``..``, under a root
url        ``https://mcp.example.com/mcp``                 https (http only to loopback)
=========  ==============================================  ===================================

Anything else is refused with a ``SourceError`` that names what is wrong: shell syntax,
``file:`` and ``git@`` forms, registries or hosts chosen by the source, userinfo in URLs,
non-ASCII look-alike hosts, over-long names. A parsed source is then checked against the
allowed kinds and the allow-list patterns (``fnmatch`` over its canonical form).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
import urllib.parse
from collections.abc import Sequence

import msgspec

from ...errors import SourceError

__all__ = [
    "KINDS",
    "MAX_SOURCE",
    "InstallSource",
    "SourceError",
    "check_allowed",
    "parse_env",
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

# The OCI distribution reference grammar (github.com/distribution/reference, regexp.go).
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[_.]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_IMAGE = re.compile(
    rf"^(?:({_DOMAIN})/)?({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)(?::({_TAG}))?(?:@({_DIGEST}))?$"
)
_MAX_IMAGE_NAME = 255

# Characters no source of any kind may contain: shells, globs, quoting, control characters.
_FORBIDDEN = re.compile(r"[\s;&|`$<>\\\"'(){}*?!\x00-\x1f\x7f]")
_LOOPBACK_NAMES = {"localhost", "localhost."}


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
    owner, repo = parts
    repo = repo.removesuffix(".git")
    if not _GH_OWNER.match(owner):
        raise SourceError(
            f"GitHub owner {owner!r}: letters, digits and single inner hyphens, 39 at most"
        )
    if not _GH_REPO.match(repo) or repo in (".", ".."):
        raise SourceError(
            f"GitHub repository {repo!r}: letters, digits, '.', '-', '_', 100 at most"
        )
    if ref and (not _GH_REF.match(ref) or ".." in ref or ref.endswith((".lock", "/"))):
        raise SourceError(f"git ref {ref!r} is not a plain branch, tag or commit name")
    canonical = f"github:{owner}/{repo}" + (f"#{ref}" if ref else "")
    return InstallSource(kind="github", canonical=canonical, owner=owner, repo=repo, ref=ref)


def _image(spec: str) -> InstallSource:
    match = _IMAGE.match(spec)
    if match is None:
        raise SourceError(
            f"{spec!r} is not an image reference ([registry/]name[:tag][@sha256:…], "
            "lowercase name components)"
        )
    domain, path = match.group(1), match.group(2)
    is_host = domain is not None and ("." in domain or ":" in domain or domain == "localhost")
    if domain is not None and not is_host and not re.fullmatch(_PATH_COMPONENT, domain):
        # Without '.', ':' or "localhost" the first part is a name component, not a registry.
        raise SourceError(f"{spec!r} is not an image reference: name components are lowercase")
    if len(f"{domain}/{path}" if domain else path) > _MAX_IMAGE_NAME:
        raise SourceError(f"image name is longer than {_MAX_IMAGE_NAME} characters")
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


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(spec: str) -> InstallSource:
    if len(spec) > _MAX_URL:
        raise SourceError(f"the URL is {len(spec)} characters; {_MAX_URL} at most")
    if not spec.isascii():
        raise SourceError("the URL has non-ASCII characters (look-alike hosts are refused)")
    parts = urllib.parse.urlsplit(spec)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http"):
        raise SourceError(f"URL scheme {parts.scheme!r} is refused: use https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise SourceError("the URL carries credentials ('user@host'); they are refused")
    if not host or not re.fullmatch(r"[a-z0-9.:\[\]-]+", host, re.IGNORECASE):
        raise SourceError(f"the URL's host {host!r} is not a plain host name or address")
    if parts.scheme == "http" and not _is_loopback(host):
        raise SourceError("plain http is allowed to this machine only; use https")
    if parts.fragment:
        raise SourceError("the URL has a fragment ('#…'); give the server's endpoint")
    try:
        _ = parts.port
    except ValueError as error:
        raise SourceError(f"the URL's port: {error}") from None
    return InstallSource(kind="url", canonical=spec, url=spec)


def parse_source(
    text: str, *, path_roots: Sequence[str] = (), kinds: Sequence[str] | None = None
) -> InstallSource:
    """Check ``text`` against the grammars; the source, or ``SourceError`` naming the problem.

    With ``kinds``, a source of another kind is refused before its own checks run.
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
        return _image(rest)
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
    """Refuse a source whose kind is not enabled, or that no allow-list pattern matches."""
    if source.kind not in kinds:
        raise SourceError(
            f"{source.kind} sources are not allowed here (CLARA_MCP_ALLOWED_SOURCES="
            f"{','.join(kinds) or 'none'})"
        )
    if patterns and not any(fnmatch.fnmatchcase(source.canonical, p) for p in patterns):
        raise SourceError(f"{source.canonical} matches no pattern of CLARA_MCP_ALLOW")


_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
# Variables that change how programs load or run code: never set from a chat command.
_ENV_DENIED = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "ENV", "BASH_ENV", "IFS", "CDPATH"}
    | {"NODE_OPTIONS", "NODE_PATH", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PERL5LIB"}
)
_ENV_DENIED_PREFIXES = ("LD_", "DYLD_", "NPM_CONFIG_", "PYTHON", "GIT_", "SSH_", "DOCKER_")
_MAX_ENV = 20
_MAX_ENV_VALUE = 4096


def parse_env(text: str) -> dict[str, str]:
    """``KEY=VALUE`` pairs separated by spaces (API keys a server needs).

    Names are upper-case identifiers; names that change how programs load code (``PATH``,
    ``LD_PRELOAD``, ``NODE_OPTIONS``, ``PYTHON*``, ...) are refused. Errors never show a value.
    """
    values: dict[str, str] = {}
    for item in text.split():
        name, equals, value = item.partition("=")
        if not equals:
            raise SourceError(f"environment: {name[:40]!r} is not NAME=VALUE")
        if not _ENV_NAME.match(name):
            raise SourceError(f"environment: {name[:40]!r} is not a variable name (A-Z, 0-9, _)")
        if name in _ENV_DENIED or name.startswith(_ENV_DENIED_PREFIXES):
            raise SourceError(f"environment: {name} cannot be set (it changes how code runs)")
        if not value or len(value) > _MAX_ENV_VALUE or not value.isprintable():
            raise SourceError(
                f"environment: the value of {name} must be 1 to {_MAX_ENV_VALUE} printable "
                "characters"
            )
        values[name] = value
    if len(values) > _MAX_ENV:
        raise SourceError(f"environment: {len(values)} variables; {_MAX_ENV} at most")
    return values
