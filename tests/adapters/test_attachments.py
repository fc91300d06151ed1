"""Attachments: text inlined up to a limit, images resized in threads, the rest named."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from clara.adapters.chat import Attachment, AttachmentLimits, read_attachments


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


def file(name: str, content_type: str, data: bytes) -> Attachment:
    return Attachment(filename=name, content_type=content_type, size=len(data), data=data)


@pytest.mark.trio
async def test_text_and_code_are_inlined_and_long_ones_truncated() -> None:
    async with httpx.AsyncClient() as client:
        read = await read_attachments(
            [
                file("notes.md", "text/markdown", b"# Notes\nbuy tea"),
                file("main.py", "application/octet-stream", b"print('hi')"),
                file("huge.txt", "text/plain", b"x" * 50_000),
            ],
            client,
            AttachmentLimits(max_text_chars=1000),
        )
    assert read.texts[0] == "Attached file notes.md:\n```\n# Notes\nbuy tea\n```"
    assert "print('hi')" in read.texts[1]  # by its suffix
    assert read.texts[2].endswith("[truncated: the first 1,000 of 50,000 characters]\n```")


@pytest.mark.trio
async def test_images_are_resized_to_the_providers_limits() -> None:
    async with httpx.AsyncClient() as client:
        read = await read_attachments(
            [
                file("photo.png", "image/png", png(4000, 3000)),
                file("icon.png", "image/png", png(64, 64, "RGBA")),
            ],
            client,
        )
    (photo_type, photo), (icon_type, icon) = read.images
    assert photo_type == "image/jpeg" and icon_type == "image/png"
    with Image.open(io.BytesIO(base64.b64decode(photo))) as image:
        assert max(image.size) == 1568 and image.size == (1568, 1176)
    with Image.open(io.BytesIO(base64.b64decode(icon))) as image:
        assert image.size == (64, 64) and image.mode == "RGBA"


@pytest.mark.trio
async def test_what_cannot_be_read_is_named() -> None:
    async with httpx.AsyncClient() as client:
        read = await read_attachments(
            [
                file("song.mp3", "audio/mpeg", b"ID3"),
                file("broken.png", "image/png", b"not a png"),
                *[file(f"p{i}.png", "image/png", png(10, 10)) for i in range(5)],
            ],
            client,
            AttachmentLimits(max_images=4),
        )
    assert len(read.images) == 3  # broken.png and the fifth were not read
    assert "(attached: song.mp3, audio/mpeg, not read)" in read.notes
    assert any("broken.png could not be read" in note for note in read.notes)
    assert "(the image p3.png was not read: too many)" in read.notes
