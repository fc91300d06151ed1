"""discord.py inside Clara's trio run (through trio-asyncio): events in, messages out.

discord.py is asyncio-only, so it runs in the one trio-asyncio loop the root opens. Gateway
events become ``MessageReceived`` values handed to trio code; sends go through discord.py's
HTTP client, which keeps to Discord's rate limits (it waits out 429s per route and
globally). Replies carry a nonce with ``enforce_nonce``, so a retried send is posted once.

The REST and gateway URLs are settings (``CLARA_DISCORD_API_URL``,
``CLARA_DISCORD_GATEWAY_URL``): a rate-limit proxy, a gateway proxy, or a local fake.
discord.py keeps them in class attributes, so one process talks to one Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import discord
import trio
import trio_asyncio
import yarl
from discord import app_commands

from ...errors import PlatformError
from ..chat import Attachment, Author, Embed, MessageReceived, Pings, fit_embed
from ._commands import CommandHandler, install_commands

__all__ = ["DiscordBridge", "allowed_mentions", "discord_embed", "to_message"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Events received and not yet handed to the router; beyond, they wait in order.
INBOX_CAPACITY = 1000
#: How long a server member looked up over REST is reused (one search checks many channels
#: for one person: one lookup, not one per channel); short, so a changed role counts soon.
MEMBER_CACHE_SECONDS = 10.0
#: DM channels remembered per person (Discord answers the same channel every time; this
#: saves a request per alert). Beyond, the memory starts over.
DM_CACHE_SIZE = 1000
#: ``history`` reads at most this many times ``limit`` messages (Clara's own are skipped).
HISTORY_SCAN_FACTOR = 4

GuildPlace = discord.abc.GuildChannel | discord.Thread


def to_message(
    message: discord.Message, bot_id: int, *, member: discord.Member | None = None
) -> MessageReceived:
    """A discord.py message as Clara's platform-neutral ``MessageReceived``.

    Args:
        member: the author as a server member, when the message does not carry it (messages
            read over REST have no member data: no roles, no permissions).
    """
    author = member or message.author
    roles = tuple(str(role.id) for role in getattr(author, "roles", ()) if not role.is_default())
    permissions = getattr(author, "guild_permissions", None)
    is_dm = message.guild is None
    mentioned = any(user.id == bot_id for user in message.mentions) or (
        f"<@{bot_id}>" in message.content or f"<@!{bot_id}>" in message.content
    )
    reference = message.reference.message_id if message.reference else None
    return MessageReceived(
        platform="discord",
        message_id=str(message.id),
        channel_id=str(message.channel.id),
        guild_id=None if is_dm else str(message.guild.id),  # type: ignore[union-attr]
        is_dm=is_dm,
        author=Author(
            id=str(author.id),
            name=author.display_name,
            roles=roles,
            is_admin=is_dm or bool(permissions and permissions.administrator),
        ),
        content=message.content,
        mentions_clara=mentioned,
        reply_to_id=str(reference) if reference else None,
        attachments=tuple(
            Attachment(
                filename=item.filename,
                content_type=item.content_type or "application/octet-stream",
                size=item.size,
                url=item.url,
            )
            for item in message.attachments
        ),
        sent_at=message.created_at.timestamp(),
    )


class DiscordBridge:
    """One discord.py client; a ``ChatTransport`` for the channel actors.

    Made before the tree (the channels send through it); what it delivers is given to
    ``run`` by the actor that runs it, so nothing is bound late.

    Args:
        token: the bot token.
        api_url: Discord's REST base (``…/api/v10``).
        gateway_url: the gateway's URL (``wss://gateway.discord.gg``).
        guild_ready_timeout: how long discord.py waits for guilds before ``on_ready``.
        command_guilds: servers that get the slash commands at once at start.
    """

    def __init__(
        self,
        token: str,
        *,
        api_url: str = "https://discord.com/api/v10",
        gateway_url: str = "wss://gateway.discord.gg",
        guild_ready_timeout: float = 2.0,
        command_guilds: Sequence[int] = (),
    ) -> None:
        self._token = token
        self._api_url = api_url.rstrip("/")
        self._gateway_url = gateway_url
        self._guild_ready_timeout = guild_ready_timeout
        self._command_guilds = tuple(command_guilds)
        self.client: discord.Client | None = None
        self.ready = False
        self.received = 0
        self.sent = 0
        self._members: dict[tuple[int, int], tuple[float, discord.Member | None]] = {}
        self._dm_channels: dict[str, str] = {}

    async def run(
        self,
        route: Callable[[MessageReceived], Awaitable[None]],
        commands: CommandHandler | None = None,
        *,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Connect, report ``started`` once Discord says ready, stay until cancelled.

        Args:
            route: called (in trio) with every message someone else wrote.
            commands: runs the slash commands (none are registered without it).
        """
        discord.http.Route.BASE = self._api_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self._gateway_url)
        ready = trio.Event()
        intents = discord.Intents.default()
        intents.message_content = True
        client = discord.Client(intents=intents, guild_ready_timeout=self._guild_ready_timeout)
        self.client = client
        tree: app_commands.CommandTree[Any] | None = None
        if commands is not None:
            tree = app_commands.CommandTree(client)
            install_commands(tree, commands)

        async def mark_ready() -> None:
            self.ready = True
            ready.set()

        # One ordered hand-off: discord.py runs each event in a task of its own, and each
        # crossing into trio would be a task of its own too, free to overtake the one before.
        # Events are put in one bounded channel in the order discord.py delivers them (the
        # synchronous start of each event's task runs in that order), and one trio task hands
        # them to ``route`` in that order. When the channel is full, the events that follow
        # queue behind an asyncio lock (first come, first served) instead of overtaking.
        inbox_send, inbox_receive = trio.open_memory_channel[MessageReceived](INBOX_CAPACITY)
        in_order = asyncio.Lock()

        async def send_waiting(message: MessageReceived) -> None:
            await inbox_send.send(message)

        async def hand_over() -> None:
            async for message in inbox_receive:
                self.received += 1
                await route(message)

        @client.event
        async def on_ready() -> None:
            logger.info("discord: connected as %s", client.user)
            if tree is not None:
                try:
                    await tree.sync()
                    # Servers named in CLARA_DISCORD_COMMAND_GUILDS get them at once too.
                    for guild_id in self._command_guilds:
                        guild = discord.Object(id=guild_id)
                        tree.copy_global_to(guild=guild)
                        await tree.sync(guild=guild)
                except discord.HTTPException as error:
                    logger.warning("discord: could not register the slash commands: %s", error)
            await trio_asyncio.trio_as_aio(mark_ready)()

        @client.event
        async def on_message(message: discord.Message) -> None:
            if client.user is None or message.author.id == client.user.id:
                return
            received = to_message(message, client.user.id)
            if not in_order.locked():
                try:
                    inbox_send.send_nowait(received)
                except trio.WouldBlock:
                    pass  # full: wait in line below
                else:
                    return
            async with in_order:
                await trio_asyncio.trio_as_aio(send_waiting)(received)

        try:
            async with trio.open_nursery() as nursery:

                async def connect() -> None:
                    try:
                        await trio_asyncio.aio_as_trio(client.start)(self._token)
                    except discord.LoginFailure as error:
                        raise PlatformError("discord", f"login refused: {error}") from None
                    except discord.HTTPException as error:
                        raise PlatformError("discord", f"cannot log in: {error}") from None

                nursery.start_soon(hand_over)
                nursery.start_soon(connect)
                await ready.wait()
                task_status.started(self)
        finally:
            self.ready = False
            with trio.CancelScope(shield=True):
                await trio_asyncio.aio_as_trio(client.close)()

    async def send(
        self,
        channel_id: str,
        text: str,
        *,
        reply_to: str | None,
        nonce: str,
        files: Sequence[tuple[str, bytes]] = (),
    ) -> str:
        """Post ``text``; a ``PlatformError`` names what Discord said when it refuses."""
        if self.client is None:
            raise PlatformError("discord", "not connected")
        client = self.client

        async def post() -> str:
            channel = client.get_partial_messageable(int(channel_id))
            reference = (
                discord.MessageReference(
                    message_id=int(reply_to), channel_id=int(channel_id), fail_if_not_exists=False
                )
                if reply_to
                else None
            )
            message = await channel.send(
                text,
                files=[discord.File(io.BytesIO(data), filename=name) for name, data in files],
                nonce=nonce,
                reference=reference,  # type: ignore[arg-type]
                mention_author=False,
                allowed_mentions=discord.AllowedMentions(everyone=False, roles=False),
            )
            return str(message.id)

        message_id = await _on_discord(post, "sending")
        self.sent += 1
        return message_id

    async def send_embed(
        self,
        channel_id: str,
        embed: Embed,
        *,
        nonce: str,
        content: str = "",
        pings: Pings = Pings(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> str:
        """Post ``embed`` (fitted to Discord's limits) with ``content``, notifying only whom
        ``pings`` names (``allowed_mentions``: by default ``parse: []``, nobody).

        Raises:
            PlatformError: not connected, an id that is not a number, or Discord refused.
        """
        client = self._connected()
        channel_number = _snowflake(channel_id, "channel")
        allowed = allowed_mentions(pings)
        card = discord_embed(fit_embed(embed))

        async def post() -> str:
            channel = client.get_partial_messageable(channel_number)
            message = await channel.send(
                content or None, embed=card, nonce=nonce, allowed_mentions=allowed
            )
            return str(message.id)

        message_id = await _on_discord(post, "sending an embed")
        self.sent += 1
        return message_id

    async def dm_channel(self, user_id: str) -> str:
        """The DM channel with ``user_id``: ``POST /users/@me/channels`` (what discord.py's
        ``User.create_dm`` does, without first fetching the user), remembered afterwards.

        Raises:
            PlatformError: not connected, an id that is not a number, or Discord refused
                (an unknown person: 400/404).
        """
        known = self._dm_channels.get(user_id)
        if known is not None:
            return known
        client = self._connected()
        person = _snowflake(user_id, "user")

        async def open_dm() -> str:
            data = await client.http.start_private_message(person)
            return str(data["id"])

        channel_id = await _on_discord(open_dm, f"opening a DM with user {user_id}")
        if len(self._dm_channels) >= DM_CACHE_SIZE:
            self._dm_channels.clear()
        self._dm_channels[user_id] = channel_id
        return channel_id

    async def react(self, channel_id: str, message_id: str, emoji: str) -> None:
        """Add Clara's ``emoji`` reaction to a message; ``PlatformError`` if Discord refuses."""
        if self.client is None:
            raise PlatformError("discord", "not connected")
        client = self.client

        async def add() -> None:
            await client.http.add_reaction(int(channel_id), int(message_id), emoji)

        await _on_discord(add, "reacting", detail=False)

    async def typing(self, channel_id: str) -> None:
        if self.client is None:
            return
        client = self.client

        async def trigger() -> None:
            await client.http.send_typing(int(channel_id))

        await _on_discord(trigger, "typing", detail=False)

    async def history(
        self, channel_id: str, *, after: str | None, limit: int
    ) -> list[MessageReceived]:
        """What others wrote in a channel after message ``after``, oldest first: at most
        ``limit`` messages, Clara's own left out (``after`` None: the latest ones).

        For catching up on what was written while Clara was away: the gateway replays
        nothing. Messages read this way carry no member data, so each author is looked up in
        the server for their roles (one who has left has none). At most
        ``HISTORY_SCAN_FACTOR * limit`` messages are read, Clara's included.

        Raises:
            ValueError: ``limit`` is below 1.
            PlatformError: not connected, or Discord refused (an unknown channel, no access
                to its history, a server error).
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1; got {limit!r}")
        client = self._connected()
        channel_number = _snowflake(channel_id, "channel")
        after_number = None if after is None else _snowflake(after, "message")

        async def read() -> list[MessageReceived]:
            assert client.user is not None  # connected
            bot_id = client.user.id
            channel = await _resolve_channel(client, channel_number)
            if not isinstance(channel, discord.abc.Messageable):
                raise PlatformError("discord", f"channel {channel_id} holds no messages")
            scan = limit * HISTORY_SCAN_FACTOR
            stream = (
                channel.history(limit=scan)  # newest first
                if after_number is None
                else channel.history(
                    limit=scan, after=discord.Object(id=after_number), oldest_first=True
                )
            )
            found: list[discord.Message] = []
            # An async generator (typed as an iterator): closed at once when left early.
            async with contextlib.aclosing(cast(AsyncGenerator[Any, None], stream)) as messages:
                async for message in messages:
                    if message.author.id != bot_id:
                        found.append(message)
                        if len(found) == limit:
                            break
            if after_number is None:
                found.reverse()
            members: dict[int, discord.Member | None] = {}
            if isinstance(channel, GuildPlace):
                for author_id in dict.fromkeys(m.author.id for m in found):
                    members[author_id] = await self._member(channel.guild, author_id)
            return [to_message(m, bot_id, member=members.get(m.author.id)) for m in found]

        return await _on_discord(read, f"reading channel {channel_id}")

    async def can_read(self, user_id: str, channel_id: str) -> bool:
        """Whether ``user_id`` may read ``channel_id``'s history: a DM only its own person; a
        server's channel a member with View Channel and Read Message History there (roles,
        the channel's overwrites and timeouts counted by discord.py). An unknown channel, or
        one Clara cannot see itself: False.

        Raises:
            PlatformError: not connected, or Discord failed (not a refusal: a server error).
        """
        client = self._connected()
        if not (user_id.isdigit() and channel_id.isdigit()):
            return False
        person = int(user_id)

        async def check() -> bool:
            try:
                channel = await _resolve_channel(client, int(channel_id))
            except (discord.NotFound, discord.Forbidden):
                return False
            if isinstance(channel, discord.DMChannel):
                return channel.recipient is not None and channel.recipient.id == person
            if isinstance(channel, discord.GroupChannel):
                return any(recipient.id == person for recipient in channel.recipients)
            if not isinstance(channel, GuildPlace) or channel.guild.unavailable:
                return False
            member = await self._member(channel.guild, person)
            if member is None:
                return False
            permissions = channel.permissions_for(member)
            return permissions.view_channel and permissions.read_message_history

        return await _on_discord(check, f"checking channel {channel_id}")

    async def _member(self, guild: discord.Guild, user_id: int) -> discord.Member | None:
        """``user_id`` as a member of ``guild`` (None: not a member), cached briefly: without
        the members intent discord.py keeps no members, so each lookup is a request."""
        cached = guild.get_member(user_id)
        if cached is not None:
            return cached
        now = time.monotonic()
        known = self._members.get((guild.id, user_id))
        if known is not None and now - known[0] < MEMBER_CACHE_SECONDS:
            return known[1]
        try:
            member: discord.Member | None = await guild.fetch_member(user_id)
        except (discord.NotFound, discord.Forbidden):
            member = None
        if len(self._members) >= 1000:  # keep only what is still fresh
            self._members = {
                key: entry
                for key, entry in self._members.items()
                if now - entry[0] < MEMBER_CACHE_SECONDS
            }
        self._members[(guild.id, user_id)] = (now, member)
        return member

    def _connected(self) -> discord.Client:
        if self.client is None or not self.ready:
            raise PlatformError("discord", "not connected")
        return self.client


def allowed_mentions(pings: Pings) -> discord.AllowedMentions:
    """``pings`` as discord.py's ``AllowedMentions``: people and roles only by id, @everyone
    only when asked, never the replied-to author (nobody by default: ``parse: []``)."""
    users = [discord.Object(id=_snowflake(user, "user")) for user in pings.users]
    roles = [discord.Object(id=_snowflake(role, "role")) for role in pings.roles]
    return discord.AllowedMentions(
        everyone=pings.everyone, users=users or False, roles=roles or False, replied_user=False
    )


def discord_embed(embed: Embed) -> discord.Embed:
    """Clara's ``Embed`` as discord.py's (the caller fits it to the limits first)."""
    card = discord.Embed(
        title=embed.title,
        description=embed.description or None,
        colour=embed.colour,
        url=embed.url or None,
    )
    for field in embed.fields:
        card.add_field(name=field.name, value=field.value, inline=field.inline)
    if embed.footer:
        card.set_footer(text=embed.footer)
    return card


async def _on_discord(call: Callable[[], Awaitable[T]], what: str, *, detail: bool = True) -> T:
    """``call()`` on discord.py's asyncio loop; a refusal from Discord is a ``PlatformError``
    naming ``what`` and the HTTP status (and Discord's own text, with ``detail``)."""
    try:
        return cast(T, await trio_asyncio.aio_as_trio(call)())
    except discord.HTTPException as error:
        reason = f"{what} failed ({error.status})" + (f": {error.text}" if detail else "")
        raise PlatformError("discord", reason) from None


def _snowflake(value: str, what: str) -> int:
    if not value.isdigit():
        raise PlatformError("discord", f"{what} ids are numbers; got {value!r}")
    return int(value)


async def _resolve_channel(
    client: discord.Client, channel_id: int
) -> discord.abc.GuildChannel | discord.abc.PrivateChannel | discord.Thread:
    """The channel from discord.py's cache, else from Discord (a DM seen only through a
    message is cached without its person: asked again)."""
    channel = client.get_channel(channel_id)
    if channel is None or (isinstance(channel, discord.DMChannel) and channel.recipient is None):
        channel = await client.fetch_channel(channel_id)
    return channel
