"""Rich messages: embeds, DMs by person and controlled pings, for what Clara posts on its own.

Replies are plain text (``ChatTransport.send``); alerts and notices are embeds, sent to a
channel or to a person's DM channel, and may ping exactly the people they name. An
``EmbedTransport`` is a ``ChatTransport`` that can do this; a separate Protocol, so a
transport that only answers in channels (a test's fake bridge) need not grow it.

Discord refuses an embed past its limits (the whole message fails), so every transport
sends ``fit_embed(embed)``: each text cut to its limit with "…", at most 25 fields, and the
whole within 6,000 characters.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from ._types import ChatTransport

__all__ = [
    "EMBED_LIMITS",
    "Embed",
    "EmbedField",
    "EmbedTransport",
    "Pings",
    "embed_text",
    "fit_embed",
]


class _Limits(msgspec.Struct, frozen=True):
    """Discord's embed limits, in characters (fields in number)."""

    title: int = 256
    description: int = 4096
    fields: int = 25
    field_name: int = 256
    field_value: int = 1024
    footer: int = 2048
    total: int = 6000


#: Discord's embed limits (discord.com/developers/docs/resources/message#embed-object-embed-limits).
EMBED_LIMITS = _Limits()
_MARK = "…"


class EmbedField(msgspec.Struct, frozen=True, kw_only=True):
    """One name/value pair of an embed; Discord refuses empty ones, so both are required."""

    name: str
    value: str
    inline: bool = False

    def __post_init__(self) -> None:
        for label, text in (("name", self.name), ("value", self.value)):
            if not text.strip():
                raise ValueError(f"EmbedField.{label} must not be empty or blank")


class Embed(msgspec.Struct, frozen=True, kw_only=True):
    """A card: title, description, colour bar, fields, footer, link (as Discord draws it).

    Args:
        colour: 0xRRGGBB (0 to 0xFFFFFF).
        url: what the title links to (empty: no link).
    """

    title: str
    description: str = ""
    colour: int = 0
    fields: tuple[EmbedField, ...] = ()
    footer: str = ""
    url: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.colour <= 0xFFFFFF:
            raise ValueError(f"Embed.colour must be 0xRRGGBB (0 to 0xFFFFFF); got {self.colour!r}")
        if self.url and not self.url.startswith(("https://", "http://")):
            raise ValueError("Embed.url must be an http(s) URL")

    def total(self) -> int:
        """The characters Discord counts against ``EMBED_LIMITS.total``."""
        return (
            len(self.title)
            + len(self.description)
            + len(self.footer)
            + sum(len(field.name) + len(field.value) for field in self.fields)
        )


class Pings(msgspec.Struct, frozen=True, kw_only=True):
    """Who a message may notify (Discord's allowed mentions). The default pings nobody,
    whatever the text says: a mention of a person, a role or @everyone in a message's text
    notifies only when named here.

    Args:
        users: platform user ids that may be pinged.
        roles: role ids that may be pinged (only when asked for).
        everyone: whether @everyone / @here may ping (only when asked for).
    """

    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    everyone: bool = False

    def __post_init__(self) -> None:
        for label, ids in (("users", self.users), ("roles", self.roles)):
            for value in ids:
                if not value.strip():
                    raise ValueError(f"Pings.{label} holds platform ids; got an empty one")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + _MARK


def fit_embed(embed: Embed) -> Embed:
    """``embed`` within Discord's limits: each text cut to its own limit with "…", fields
    past the 25th dropped; then, while the whole passes 6,000 characters, the description
    shortened, then the footer, then fields dropped from the end (the title and the first
    fields carry what matters most). An embed within the limits comes back as it was."""
    limits = EMBED_LIMITS
    fields = tuple(
        EmbedField(
            name=_cut(field.name, limits.field_name),
            value=_cut(field.value, limits.field_value),
            inline=field.inline,
        )
        for field in embed.fields[: limits.fields]
    )
    fitted = msgspec.structs.replace(
        embed,
        title=_cut(embed.title, limits.title),
        description=_cut(embed.description, limits.description),
        footer=_cut(embed.footer, limits.footer),
        fields=fields,
    )
    excess = fitted.total() - limits.total
    if excess > 0 and fitted.description:
        keep = max(len(fitted.description) - excess, 0)
        fitted = msgspec.structs.replace(
            fitted, description=_cut(fitted.description, keep) if keep > 1 else ""
        )
        excess = fitted.total() - limits.total
    if excess > 0 and fitted.footer:
        keep = max(len(fitted.footer) - excess, 0)
        fitted = msgspec.structs.replace(
            fitted, footer=_cut(fitted.footer, keep) if keep > 1 else ""
        )
        excess = fitted.total() - limits.total
    while excess > 0 and fitted.fields:
        fitted = msgspec.structs.replace(fitted, fields=fitted.fields[:-1])
        excess = fitted.total() - limits.total
    return fitted


def embed_text(embed: Embed) -> str:
    """The embed as plain text (a terminal, a log at DEBUG): title, description, one line
    per field, footer."""
    lines = [embed.title]
    if embed.url:
        lines.append(embed.url)
    if embed.description:
        lines.append(embed.description)
    lines.extend(f"{field.name}: {field.value}" for field in embed.fields)
    if embed.footer:
        lines.append(f"-- {embed.footer}")
    return "\n".join(lines)


class EmbedTransport(ChatTransport, Protocol):
    """A chat transport that also posts embeds, finds a person's DM channel, and pings only
    whom it is told to: what alerts and notices need."""

    async def send_embed(
        self,
        channel_id: str,
        embed: Embed,
        *,
        nonce: str,
        content: str = "",
        pings: Pings = Pings(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> str:
        """Post ``embed`` (fitted to the limits) with ``content`` above it; the new
        message's id.

        Args:
            nonce: the same on every retry of this post (a platform that enforces nonces
                posts it once).
            content: text above the embed (where a ping's ``<@id>`` goes: a mention inside
                an embed never notifies).
            pings: who may be notified; the default, nobody.

        Raises:
            PlatformError: not connected, or the platform refused.
        """
        ...

    async def dm_channel(self, user_id: str) -> str:
        """The id of the DM channel with person ``user_id`` (opened when there is none yet).

        Raises:
            PlatformError: not connected, an unknown person, or the platform refused.
        """
        ...
