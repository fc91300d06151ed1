"""Container image references: the OCI grammar, the registries Clara pulls from, digests.

A reference is ``[registry/]name[:tag][@digest]`` (github.com/distribution/reference). Two
things are stricter than the grammar, because the source comes from a chat command:

- **the registry**: a first component with ``.`` or ``:`` (or ``localhost``) is a registry,
  and a registry is a host the source chooses. Only the public registries of
  ``IMAGE_REGISTRIES`` are accepted (and ``localhost`` without a port, podman's name for images
  built or imported on this machine); an address, a port or any other host is refused. An
  unqualified name (``mcp/fetch``) comes from the engine's own configured registries.
- **the digest**: ``sha256`` with exactly 64, or ``sha512`` with exactly 128, lower-case hex
  characters. The grammar allows any algorithm and any length of 32 or more; an engine then
  fails late or, worse, a typo pins nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ...errors import SourceError

__all__ = ["IMAGE_REGISTRIES", "LOCAL_IMAGES", "MAX_IMAGE_NAME", "check_image"]

IMAGE_REGISTRIES = (
    "docker.io",
    "ghcr.io",
    "quay.io",
    "gcr.io",
    "registry.gitlab.com",
    "public.ecr.aws",
    "mcr.microsoft.com",
    "registry.k8s.io",
)
"""Public registries an image source may name."""
LOCAL_IMAGES = "localhost"
"""The registry part of images on this machine (``podman import``, ``podman build``)."""
MAX_IMAGE_NAME = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[_.]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_NAME = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_ALGORITHM = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*$")
_DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"^[0-9a-f]+$")


def _check_digest(spec: str, digest: str) -> None:
    algorithm, colon, encoded = digest.partition(":")
    if not colon or not encoded:
        raise SourceError(f"{spec!r}: the digest {digest[:80]!r} is not ALGORITHM:HEX")
    if not _DIGEST_ALGORITHM.match(algorithm) or algorithm not in _DIGEST_LENGTHS:
        raise SourceError(
            f"{spec[:80]!r}: digest algorithm {algorithm[:20]!r} is refused; use sha256 or sha512"
        )
    if not _HEX.match(encoded):
        raise SourceError(f"{spec[:80]!r}: the digest is not lower-case hex")
    wanted = _DIGEST_LENGTHS[algorithm]
    if len(encoded) != wanted:
        raise SourceError(
            f"{spec[:80]!r}: a {algorithm} digest of the wrong length ({len(encoded)} hex "
            f"characters; {algorithm} has {wanted})"
        )


def _split_registry(spec: str, name: str) -> tuple[str | None, str]:
    """The registry the reference names (None: the engine's default), and the rest."""
    first, slash, rest = name.partition("/")
    if not slash:
        return None, name
    if "." in first or ":" in first or first == LOCAL_IMAGES:
        return first, rest
    return None, name


def check_image(spec: str, registries: Sequence[str] = IMAGE_REGISTRIES) -> None:
    """Refuse ``spec`` unless it is a well-formed reference from an allowed registry.

    Raises:
        SourceError: naming what is wrong (the registry, the digest, a component).
    """
    if spec.count("@") > 1:
        raise SourceError(f"{spec[:80]!r} is not an image reference: more than one '@'")
    reference, at, digest = spec.partition("@")
    if at:
        _check_digest(spec, digest)
    name, tag = reference, None
    head, slash, last = reference.rpartition("/")
    if ":" in last:  # a ':' in the last component is the tag's; before it, a registry's port
        base, tag = last.split(":", 1)
        name = f"{head}{slash}{base}"
    if tag is not None and not _TAG.match(tag):
        raise SourceError(
            f"{spec[:80]!r}: the tag {tag[:40]!r} is not 1 to 128 letters, digits, '_', '.', '-'"
        )
    registry, path = _split_registry(spec, name)
    if registry is not None and registry != LOCAL_IMAGES and registry not in registries:
        raise SourceError(
            f"{spec[:80]!r}: the registry {registry[:60]!r} is chosen by the source and is not "
            f"one Clara pulls from ({', '.join(registries)}; or {LOCAL_IMAGES}/ for images on "
            "this machine)"
        )
    if not path or not _NAME.match(path):
        raise SourceError(
            f"{spec[:80]!r} is not an image reference ([registry/]name[:tag][@sha256:…], "
            "lower-case name components)"
        )
    if len(name) > MAX_IMAGE_NAME:
        raise SourceError(f"image name is longer than {MAX_IMAGE_NAME} characters")
