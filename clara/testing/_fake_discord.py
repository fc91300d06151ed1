"""A fake Discord on loopback: the REST endpoints discord.py needs and a gateway websocket.

Enough of the real protocol for discord.py 2.x to log in, identify, receive READY and
MESSAGE_CREATE events, and post messages (with nonces, message references, embeds and
allowed mentions, all recorded as sent), open DM channels (``POST /users/@me/channels``)
and show typing indicators. The gateway speaks zlib-stream compressed JSON, as Discord does.

Nonces are kept as Discord keeps them with ``enforce_nonce``: a post whose nonce was used
already is not made again (it lands in ``repeats``) and is answered with the first message.
``stall_posts(after=N)`` makes posts beyond the N-th without answering them, so a test can
kill Clara while a piece is in flight.

Every message is kept in its channel's history (what people wrote, delivered or not, and what
Clara posted), which ``GET /channels/{id}/messages`` serves as Discord does: newest first,
``before`` / ``after`` / ``limit``. Servers have roles, permissions and per-channel
overwrites, and their members can be looked up, so discord.py works out who may see what.
Message ids are real snowflakes: their time is when the message was sent.

    fake = FakeDiscord()
    url = await nursery.start(fake.serve)     # REST at {url}/api/v10, gateway at ws://.../gateway
    await fake.connected.wait()
    await fake.post_message("hello <@BOT>", channel_id="10", author_id="1")
    await fake.post_message("while you were away", channel_id="10", deliver=False)
"""

from __future__ import annotations

import datetime as dt
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..adapters.http import serve_http

__all__ = ["BOT_ID", "MEMBER_PERMISSIONS", "FakeDiscord", "PermissionOverwrite", "Posted"]

BOT_ID = "999000000000000001"
APPLICATION_ID = "999000000000000002"
#: Discord's epoch (2015-01-01) in milliseconds: a snowflake's time counts from it.
DISCORD_EPOCH_MS = 1_420_070_400_000
#: What ``@everyone`` may do in a server by default: View Channel (1 << 10), Send Messages
#: (1 << 11), Read Message History (1 << 16).
MEMBER_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 16)


def _json(data: Any, status: int = 200) -> Response:
    # discord.py checks for exactly this content type.
    return Response(msgspec.json.encode(data), status_code=status, media_type="application/json")


def _error(status: int, code: int, message: str) -> Response:
    """An error as Discord words it (discord.py reads ``code`` and ``message``)."""
    return _json({"code": code, "message": message}, status)


def _as_snowflake(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _user(user_id: str, name: str, bot: bool = False) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": name,
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
    }


@dataclass
class Posted:
    """A message Clara posted through the REST API."""

    channel_id: str
    content: str
    nonce: str | None
    enforce_nonce: bool
    reference: str | None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    embeds: list[dict[str, Any]] = field(default_factory=list)
    """The embeds as sent (Discord's JSON: ``title``, ``color``, ``fields``, ...)."""
    allowed_mentions: dict[str, Any] | None = None
    """Who the post may ping, as sent (None: not given, so Discord would parse every
    mention in the text)."""


@dataclass(frozen=True)
class PermissionOverwrite:
    """A channel's exception to the server's permissions, for a role or one member.

    ``allow`` and ``deny`` are Discord permission bits (``discord.Permissions(...).value``).
    """

    target_id: str
    kind: Literal["role", "member"] = "role"
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.target_id,
            "type": 0 if self.kind == "role" else 1,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class FakeDiscord:
    posted: list[Posted] = field(default_factory=list)
    typing: list[str] = field(default_factory=list)
    reactions: list[tuple[str, str, str]] = field(default_factory=list)
    """(channel id, message id, emoji) of each reaction Clara added, in order."""
    connected: trio.Event = field(default_factory=trio.Event)
    identified_token: str | None = None
    unreadable: set[str] = field(default_factory=set)
    """Channels whose history Clara may not read: 403 Missing Access."""
    refused_tokens: set[str] = field(default_factory=set)
    """Bot tokens Discord refuses at login (401 Unauthorized, as for a revoked token)."""
    _last_id: int = 0
    _increment: int = 0
    _histories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    _members: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    """Per server: user id → (name, role ids)."""
    _socket: WebSocket | None = None
    _sequence: int = 0
    _compress: Any = None
    _nonces: dict[str, dict[str, Any]] = field(default_factory=dict)
    dm_channels: dict[str, str] = field(default_factory=dict)
    """user id → the DM channel ``POST /users/@me/channels`` opened with them (the same one
    every time, as on Discord)."""
    unknown_users: set[str] = field(default_factory=set)
    """People Discord does not know: opening a DM with them fails (400 Invalid Recipient)."""
    repeats: list[Posted] = field(default_factory=list)
    """Posts Discord did not make because their nonce was used already (``enforce_nonce``):
    a retry, or two pieces that wrongly share a nonce."""
    _posted_event: trio.Event = field(default_factory=trio.Event)
    _stall_after: int | None = None
    _stall_released: trio.Event = field(default_factory=trio.Event)
    commands: list[dict[str, Any]] = field(default_factory=list)
    interaction_answers: list[tuple[str, str, int]] = field(default_factory=list)
    guild_commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _answered: trio.Event = field(default_factory=trio.Event)

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        api = "/api/v10"
        app = Starlette(
            routes=[
                Route(f"{api}/users/@me", self._me, methods=["GET"]),
                Route(f"{api}/oauth2/applications/@me", self._application, methods=["GET"]),
                Route(f"{api}/gateway/bot", self._gateway_info, methods=["GET"]),
                Route(f"{api}/users/@me/channels", self._open_dm, methods=["POST"]),
                Route(f"{api}/channels/{{channel_id}}", self._channel, methods=["GET"]),
                Route(f"{api}/channels/{{channel_id}}/messages", self._post, methods=["POST"]),
                Route(f"{api}/channels/{{channel_id}}/messages", self._messages, methods=["GET"]),
                Route(
                    f"{api}/guilds/{{guild_id}}/members/{{user_id}}",
                    self._member,
                    methods=["GET"],
                ),
                Route(f"{api}/channels/{{channel_id}}/typing", self._typing, methods=["POST"]),
                Route(
                    f"{api}/channels/{{channel_id}}/messages/{{message_id}}/reactions/{{emoji}}/@me",
                    self._react,
                    methods=["PUT"],
                ),
                Route(
                    f"{api}/applications/{{application_id}}/commands",
                    self._register_commands,
                    methods=["PUT"],
                ),
                Route(
                    f"{api}/applications/{{application_id}}/guilds/{{guild_id}}/commands",
                    self._register_guild_commands,
                    methods=["PUT"],
                ),
                Route(
                    f"{api}/interactions/{{interaction_id}}/{{token}}/callback",
                    self._interaction_callback,
                    methods=["POST"],
                ),
                Route(
                    f"{api}/webhooks/{{application_id}}/{{token}}",
                    self._followup,
                    methods=["POST"],
                ),
                WebSocketRoute("/gateway", self._gateway),
            ]
        )
        await serve_http(app, "127.0.0.1", 0, task_status=task_status)

    # -- REST --------------------------------------------------------------------------------

    async def _me(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bot ")
        if token in self.refused_tokens:
            return _error(401, 0, "401: Unauthorized")
        return _json(_user(BOT_ID, "Clara", bot=True))

    async def _application(self, request: Request) -> Response:
        return _json(
            {
                "id": APPLICATION_ID,
                "name": "Clara",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": _user("1", "owner"),
                "team": None,
            }
        )

    async def _gateway_info(self, request: Request) -> Response:
        host = request.url.netloc
        return _json(
            {
                "url": f"ws://{host}/gateway",
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _post(self, request: Request) -> Response:
        channel_id = request.path_params["channel_id"]
        files: list[tuple[str, bytes]] = []
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            body = msgspec.json.decode(str(form["payload_json"]))
            for key, value in form.multi_items():
                if key.startswith("files[") and not isinstance(value, str):
                    files.append((value.filename or "", await value.read()))
        else:
            body = msgspec.json.decode(await request.body())
        nonce = body.get("nonce")
        reference = (body.get("message_reference") or {}).get("message_id")
        posted = Posted(
            channel_id=channel_id,
            content=body.get("content") or "",
            nonce=nonce,
            enforce_nonce=bool(body.get("enforce_nonce")),
            reference=str(reference) if reference else None,
            files=files,
            embeds=list(body.get("embeds") or []),
            allowed_mentions=body.get("allowed_mentions"),
        )
        if nonce is not None and body.get("enforce_nonce") and nonce in self._nonces:
            self.repeats.append(posted)
            return _json(self._nonces[nonce])  # Discord returns the message already posted
        self.posted.append(posted)
        message = self._message(channel_id, body.get("content") or "", BOT_ID, "Clara", bot=True)
        message["embeds"] = posted.embeds
        if nonce is not None:
            self._nonces[nonce] = message
        self._histories.setdefault(channel_id, []).append(message)
        self._posted_event.set()
        if self._stall_after is not None and len(self.posted) > self._stall_after:
            await self._stall_released.wait()  # made, but the sender does not hear so
        return _json(message)

    async def _open_dm(self, request: Request) -> Response:
        """``POST /users/@me/channels``: the DM channel with ``recipient_id``, made on first
        use and the same afterwards, as Discord answers it."""
        body = msgspec.json.decode(await request.body())
        user_id = str(body.get("recipient_id", ""))
        if not user_id.isdigit() or user_id in self.unknown_users:
            return _error(400, 50033, "Invalid Recipient(s)")
        channel_id = self.dm_channels.get(user_id)
        if channel_id is None:
            channel_id = self.dm_channels[user_id] = self._next_id()
            self._channels[channel_id] = {
                "id": channel_id,
                "type": 1,
                "recipients": [_user(user_id, f"user {user_id}")],
                "last_message_id": None,
                "flags": 0,
            }
        return _json(self._channels[channel_id])

    def stall_posts(self, after: int | None) -> None:
        """Make every post beyond the first ``after`` (counted in ``posted``) as Discord would,
        but answer none of them until ``stall_posts(None)``: a process killed meanwhile never
        learns that its piece went out, and posts it again when it resumes."""
        self._stall_after = after
        self._stall_released.set()  # what waits now is answered
        self._stall_released = trio.Event()

    async def _channel(self, request: Request) -> Response:
        channel = self._channels.get(request.path_params["channel_id"])
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        return _json(channel)

    async def _messages(self, request: Request) -> Response:
        """A page of a channel's history: newest first, as Discord documents it (with
        ``after`` too: then the ``limit`` messages just after it, still newest first)."""
        channel_id = request.path_params["channel_id"]
        if channel_id not in self._channels and channel_id not in self._histories:
            return _error(404, 10003, "Unknown Channel")
        if channel_id in self.unreadable:
            return _error(403, 50001, "Missing Access")
        query = request.query_params
        if "around" in query:
            return _error(400, 50035, "Invalid Form Body: the fake does not do 'around'")
        raw_limit = query.get("limit", "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
            return _error(400, 50035, f"Invalid Form Body: limit must be 1-100, not {raw_limit}")
        limit = int(raw_limit)
        after, before = _as_snowflake(query.get("after")), _as_snowflake(query.get("before"))
        ordered = sorted(self._histories.get(channel_id, []), key=lambda m: int(m["id"]))
        if before is not None:
            ordered = [m for m in ordered if int(m["id"]) < before]
        if after is not None:
            ordered = [m for m in ordered if int(m["id"]) > after][:limit]
        else:
            ordered = ordered[-limit:]
        # Messages read over REST carry no guild id and no member, as on Discord.
        page = [
            {key: value for key, value in m.items() if key not in {"guild_id", "member"}}
            for m in reversed(ordered)
        ]
        return _json(page)

    async def _member(self, request: Request) -> Response:
        guild_id, user_id = request.path_params["guild_id"], request.path_params["user_id"]
        known = self._members.get(guild_id, {}).get(user_id)
        if known is None:
            return _error(404, 10007, "Unknown Member")
        name, roles = known
        return _json({**self._member_payload(roles), "user": _user(user_id, name)})

    @staticmethod
    def _member_payload(roles: tuple[str, ...]) -> dict[str, Any]:
        return {
            "roles": list(roles),
            "joined_at": dt.datetime.now(dt.UTC).isoformat(),
            "deaf": False,
            "mute": False,
            "flags": 0,
        }

    async def _typing(self, request: Request) -> Response:
        self.typing.append(request.path_params["channel_id"])
        return Response(status_code=204)

    async def _react(self, request: Request) -> Response:
        params = request.path_params
        self.reactions.append((params["channel_id"], params["message_id"], params["emoji"]))
        return Response(status_code=204)

    async def _register_guild_commands(self, request: Request) -> Response:
        """Commands registered for one server (they show there at once)."""
        commands = self._registered(msgspec.json.decode(await request.body()))
        self.guild_commands[request.path_params["guild_id"]] = commands
        return _json(commands)

    async def _register_commands(self, request: Request) -> Response:
        self.commands = self._registered(msgspec.json.decode(await request.body()))
        return _json(self.commands)

    def _registered(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                **command,
                "id": self._next_id(),
                "application_id": APPLICATION_ID,
                "version": "1",
                "default_member_permissions": command.get("default_member_permissions"),
                "dm_permission": command.get("dm_permission", True),
                "nsfw": command.get("nsfw", False),
            }
            for command in commands
        ]

    async def _followup(self, request: Request) -> Response:
        """A deferred interaction's answer (``interaction.followup.send``)."""
        data = msgspec.json.decode(await request.body())
        token = request.path_params["token"]
        self.interaction_answers.append(
            (token.removeprefix("token-"), data.get("content", ""), data.get("flags", 0))
        )
        self._answered.set()
        return _json(self._message("0", data.get("content", ""), BOT_ID, "Clara", bot=True))

    async def _interaction_callback(self, request: Request) -> Response:
        body = msgspec.json.decode(await request.body())
        data = body.get("data") or {}
        if body.get("type") != 5:  # 5: deferred, the answer comes as a follow-up
            self.interaction_answers.append(
                (
                    request.path_params["interaction_id"],
                    data.get("content", ""),
                    data.get("flags", 0),
                )
            )
            self._answered.set()
        message = self._message("0", data.get("content", ""), BOT_ID, "Clara", bot=True)
        return _json(
            {
                "interaction": {
                    "id": request.path_params["interaction_id"],
                    "type": 2,
                    "activity_instance_id": None,
                    "response_message_id": message["id"],
                    "response_message_loading": False,
                    "response_message_ephemeral": bool(data.get("flags", 0) & 64),
                },
                "resource": {"type": 4, "message": message},
            }
        )

    async def slash(
        self,
        group: str,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        channel_id: str = "100",
        guild_id: str | None = "5",
        user_id: str = "1",
        user_name: str = "ada",
        permissions: str = "0",
        roles: tuple[str, ...] = (),
    ) -> str:
        """Someone runs ``/group name option:value``: INTERACTION_CREATE; the answer's text."""
        interaction_id = self._next_id()
        subcommand_options = [
            {"name": key, "type": 5 if isinstance(value, bool) else 3, "value": value}
            for key, value in (options or {}).items()
        ]
        data: dict[str, Any] = {
            "id": interaction_id,
            "application_id": APPLICATION_ID,
            "type": 2,
            "token": f"token-{interaction_id}",
            "version": 1,
            "channel_id": channel_id,
            "channel": {"id": channel_id, "type": 0 if guild_id is not None else 1},
            "app_permissions": "0",
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {},
            "attachment_size_limit": 26_214_400,
            "context": 0 if guild_id is not None else 1,
            "data": {
                "id": "1",
                "name": group,
                "type": 1,
                "options": [{"name": name, "type": 1, "options": subcommand_options}],
            },
        }
        user = _user(user_id, user_name)
        if guild_id is None:
            data["user"] = user
        else:
            data["guild_id"] = guild_id
            data["guild_locale"] = "en-US"
            data["member"] = {
                "user": user,
                "roles": list(roles),
                "permissions": permissions,
                "joined_at": dt.datetime.now(dt.UTC).isoformat(),
                "deaf": False,
                "mute": False,
                "flags": 0,
            }
        before = len(self.interaction_answers)
        await self.dispatch("INTERACTION_CREATE", data)
        while len(self.interaction_answers) <= before:
            self._answered = trio.Event()
            await self._answered.wait()
        return str(self.interaction_answers[before][1])

    async def wait_posted(self, count: int) -> None:
        while len(self.posted) < count:
            self._posted_event = trio.Event()
            await self._posted_event.wait()

    # -- gateway -----------------------------------------------------------------------------

    async def _send(self, payload: dict[str, Any]) -> None:
        assert self._socket is not None
        data = msgspec.json.encode(payload)
        if self._compress is not None:
            await self._socket.send_bytes(
                self._compress.compress(data) + self._compress.flush(zlib.Z_SYNC_FLUSH)
            )
        else:
            await self._socket.send_text(data.decode())

    async def _gateway(self, socket: WebSocket) -> None:
        await socket.accept()
        self._socket = socket
        compressed = socket.query_params.get("compress") == "zlib-stream"
        self._compress = zlib.compressobj() if compressed else None
        await self._send({"op": 10, "d": {"heartbeat_interval": 45000}, "s": None, "t": None})
        try:
            while True:
                payload = msgspec.json.decode(await socket.receive_text())
                op = payload.get("op")
                if op == 1:
                    await self._send({"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    self.identified_token = payload["d"]["token"]
                    await self.dispatch(
                        "READY",
                        {
                            "v": 10,
                            "user": _user(BOT_ID, "Clara", bot=True),
                            "guilds": [],
                            "session_id": "fake-session",
                            "resume_gateway_url": str(socket.url).split("?")[0],
                            "application": {"id": APPLICATION_ID, "flags": 0},
                            "private_channels": [],
                            "relationships": [],
                        },
                    )
                    self.connected.set()
        except WebSocketDisconnect:
            self._socket = None

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self._sequence += 1
        await self._send({"op": 0, "t": event, "s": self._sequence, "d": data})

    async def add_guild(
        self,
        guild_id: str,
        channel_ids: tuple[str, ...],
        roles: tuple[str, ...] = (),
        *,
        everyone: int = MEMBER_PERMISSIONS,
        role_permissions: Mapping[str, int] | None = None,
        overwrites: Mapping[str, Sequence[PermissionOverwrite]] | None = None,
        owner_id: str = "1",
    ) -> None:
        """A server Clara is in, with text channels and roles: GUILD_CREATE.

        Args:
            everyone: the ``@everyone`` role's permission bits (what every member may do).
            role_permissions: the permission bits of some of ``roles`` (0 for the others).
            overwrites: per channel, its permission overwrites.
            owner_id: the server's owner, who may do everything everywhere.
        """
        role_permissions = role_permissions or {}
        overwrites = overwrites or {}
        everyone_role = {
            "id": guild_id,
            "name": "@everyone",
            "permissions": str(everyone),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
        }
        channels: list[dict[str, Any]] = [
            {
                "id": channel,
                "type": 0,
                "name": f"channel-{channel}",
                "position": index,
                "permission_overwrites": [o.payload() for o in overwrites.get(channel, ())],
                "guild_id": guild_id,
            }
            for index, channel in enumerate(channel_ids)
        ]
        self._channels.update((str(channel["id"]), channel) for channel in channels)
        self._members.setdefault(guild_id, {})
        await self.dispatch(
            "GUILD_CREATE",
            {
                "id": guild_id,
                "name": f"guild {guild_id}",
                "icon": None,
                "owner_id": owner_id,
                "unavailable": False,
                "member_count": 2,
                "large": False,
                "features": [],
                "emojis": [],
                "stickers": [],
                "roles": [everyone_role]
                + [
                    {
                        **everyone_role,
                        "id": role,
                        "name": f"role {role}",
                        "position": 1,
                        "permissions": str(role_permissions.get(role, 0)),
                    }
                    for role in roles
                ],
                "channels": channels,
                "members": [],
                "threads": [],
                "voice_states": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
            },
        )

    def _next_id(self, at: float | None = None) -> str:
        """A snowflake for something made at ``at`` (seconds since the epoch; None: now).

        Made now, ids only grow, as Discord's do; made in the past (a message written while
        Clara was away), the id is that moment's, so it sorts where it belongs.
        """
        self._increment = (self._increment + 1) & 0xFFF  # the snowflake's low 12 bits
        moment = time.time() if at is None else at
        snowflake = ((int(moment * 1000) - DISCORD_EPOCH_MS) << 22) | self._increment
        if at is None:
            snowflake = self._last_id = max(self._last_id + 1, snowflake)
        return str(snowflake)

    def _message(
        self,
        channel_id: str,
        content: str,
        author_id: str,
        author_name: str,
        *,
        bot: bool = False,
        guild_id: str | None = None,
        message_id: str | None = None,
        mentions_bot: bool = False,
        roles: tuple[str, ...] = (),
        sent_at: float | None = None,
    ) -> dict[str, Any]:
        moment = (
            dt.datetime.now(dt.UTC)
            if sent_at is None
            else dt.datetime.fromtimestamp(sent_at, dt.UTC)
        )
        message: dict[str, Any] = {
            "id": message_id or self._next_id(sent_at),
            "channel_id": channel_id,
            "author": _user(author_id, author_name, bot=bot),
            "content": content,
            "timestamp": moment.isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [_user(BOT_ID, "Clara", bot=True)] if mentions_bot else [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
        }
        if guild_id is not None:
            message["guild_id"] = guild_id
            message["member"] = self._member_payload(roles)
        return message

    def add_member(
        self, guild_id: str, user_id: str, name: str = "", roles: tuple[str, ...] = ()
    ) -> None:
        """Someone is a member of a server, with ``roles`` (their permissions come from them).

        ``post_message`` in a server makes its author a member too, with the roles it names.
        """
        self._members.setdefault(guild_id, {})[user_id] = (name or f"user {user_id}", roles)

    async def post_message(
        self,
        content: str,
        *,
        channel_id: str = "100",
        author_id: str = "1",
        author_name: str = "ada",
        guild_id: str | None = None,
        message_id: str | None = None,
        mention: bool = False,
        roles: tuple[str, ...] = (),
        deliver: bool = True,
        sent_at: float | None = None,
    ) -> dict[str, Any]:
        """Someone writes in a channel (a DM when ``guild_id`` is None): MESSAGE_CREATE.

        The message joins the channel's history either way.

        Args:
            deliver: False: no gateway event (someone wrote while Clara was away); only
                ``GET /channels/{id}/messages`` shows it.
            sent_at: when it was written (seconds since the epoch; its id says so too).
                Default: now.
        """
        text = (f"<@{BOT_ID}> " if mention else "") + content
        message = self._message(
            channel_id,
            text,
            author_id,
            author_name,
            guild_id=guild_id,
            message_id=message_id,
            mentions_bot=mention,
            roles=roles,
            sent_at=sent_at,
        )
        if guild_id is None:
            self._channels.setdefault(
                channel_id,
                {
                    "id": channel_id,
                    "type": 1,
                    "recipients": [_user(author_id, author_name)],
                    "last_message_id": None,
                    "flags": 0,
                },
            )
        else:
            self.add_member(guild_id, author_id, author_name, roles)
        self._histories.setdefault(channel_id, []).append(message)
        if deliver:
            await self.dispatch("MESSAGE_CREATE", message)
        return message
