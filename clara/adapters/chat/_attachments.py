"""Attachments for the model: text and code inlined (up to a limit), images resized.

Images are decoded and resized in worker threads, all of a message's at once, to fit both
Discord's and the providers' limits (Anthropic recommends at most 1568 px on the long side
and takes at most 5 MB per image). Anything else is named, not read.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence

import httpx
import msgspec
import trio

from ._types import Attachment

__all__ = ["AttachmentLimits", "ReadAttachments", "read_attachments"]

logger = logging.getLogger(__name__)

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-yaml")
TEXT_SUFFIXES = (
    ".txt", ".md", ".py", ".js", ".ts", ".json", ".yaml", ".yml", ".toml", ".csv", ".log",
    ".rs", ".go", ".java", ".c", ".h", ".cpp", ".cs", ".rb", ".php", ".sh", ".sql", ".html",
    ".css", ".xml", ".ini", ".cfg",
)  # fmt: skip
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class AttachmentLimits(msgspec.Struct, frozen=True, kw_only=True):
    max_download_bytes: int = 25 * 1024 * 1024
    max_text_chars: int = 20_000
    max_image_side: int = 1568
    max_image_bytes: int = 4 * 1024 * 1024
    max_images: int = 4


class ReadAttachments(msgspec.Struct, frozen=True, kw_only=True):
    texts: list[str]
    """Each inlined file, ready to append to the message."""
    images: list[tuple[str, str]]
    """(media type, base64 data) of each image, resized."""
    notes: list[str]
    """What was not read, and why."""


def _is_text(attachment: Attachment) -> bool:
    return attachment.content_type.startswith(TEXT_TYPES) or attachment.filename.lower().endswith(
        TEXT_SUFFIXES
    )


def _resize(data: bytes, limits: AttachmentLimits) -> tuple[str, str]:
    """(media type, base64) of the image made to fit the limits (runs in a thread)."""
    from PIL import Image  # noqa: PLC0415 - only attachments need Pillow

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        frame = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    frame.thumbnail((limits.max_image_side, limits.max_image_side))
    for quality in (90, 80, 65, 50):
        buffer = io.BytesIO()
        if frame.mode == "RGBA":
            frame.save(buffer, format="PNG", optimize=True)
            media = "image/png"
        else:
            frame.save(buffer, format="JPEG", quality=quality)
            media = "image/jpeg"
        if buffer.tell() <= limits.max_image_bytes or (media == "image/png" and quality == 50):
            return media, base64.b64encode(buffer.getvalue()).decode()
        if frame.mode == "RGBA":  # too big as PNG: flatten and try JPEG
            frame = frame.convert("RGB")
    return media, base64.b64encode(buffer.getvalue()).decode()


async def _download(
    client: httpx.AsyncClient | None, attachment: Attachment, limits: AttachmentLimits
) -> bytes:
    if attachment.data is not None:
        return attachment.data
    if client is None:
        raise ValueError("no HTTP client is configured to download it")
    if attachment.size > limits.max_download_bytes:
        raise ValueError(f"{attachment.size:,} bytes is more than I read")
    response = await client.get(attachment.url, timeout=30)
    response.raise_for_status()
    return response.content[: limits.max_download_bytes]


async def read_attachments(
    attachments: Sequence[Attachment],
    client: httpx.AsyncClient | None,
    limits: AttachmentLimits | None = None,
    limiter: trio.CapacityLimiter | None = None,
) -> ReadAttachments:
    """Read what the model can use: text inlined, images resized (concurrently, in threads).

    Args:
        client: downloads attachments that arrive as a URL; None: those are not read, and
            a note says so (attachments that carry their ``data`` are read all the same).
    """
    limits = limits or AttachmentLimits()
    texts: list[str] = []
    notes: list[str] = []
    images: dict[int, tuple[str, str]] = {}
    image_count = 0

    async def image(index: int, attachment: Attachment) -> None:
        try:
            data = await _download(client, attachment, limits)
            images[index] = await trio.to_thread.run_sync(_resize, data, limits, limiter=limiter)
        except Exception as error:  # a broken image is a note for the model, not a crash
            notes.append(f"(the image {attachment.filename} could not be read: {error})")

    async with trio.open_nursery() as nursery:
        for index, attachment in enumerate(attachments):
            if attachment.content_type in IMAGE_TYPES:
                image_count += 1
                if image_count > limits.max_images:
                    notes.append(f"(the image {attachment.filename} was not read: too many)")
                    continue
                nursery.start_soon(image, index, attachment)
            elif _is_text(attachment):
                try:
                    raw = await _download(client, attachment, limits)
                except (httpx.HTTPError, ValueError) as error:
                    notes.append(f"(the file {attachment.filename} could not be read: {error})")
                    continue
                text = raw.decode("utf-8", errors="replace")
                if len(text) > limits.max_text_chars:
                    text = (
                        text[: limits.max_text_chars]
                        + f"\n[truncated: the first {limits.max_text_chars:,} of "
                        f"{len(text):,} characters]"
                    )
                texts.append(f"Attached file {attachment.filename}:\n```\n{text}\n```")
            else:
                notes.append(
                    f"(attached: {attachment.filename}, {attachment.content_type}, not read)"
                )
    return ReadAttachments(
        texts=texts, images=[images[i] for i in sorted(images)], notes=sorted(notes)
    )
