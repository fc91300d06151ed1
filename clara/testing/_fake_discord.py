"""A fake Discord on loopback: the REST endpoints discord.py needs and a gateway websocket.

Enough of the real protocol for discord.py 2.x to log in, identify, receive READY and
MESSAGE_CREATE events, and post messages (with nonces and message references) and typing
indicators. The gateway speaks zlib-stream compressed JSON, as Discord does.

    fake = FakeDiscord()
    url = await nursery.start(fake.serve)     # REST at {url}/api/v10, gateway at ws://.../gateway
    await fake.connected.wait()
    await fake.post_message("hello <@BOT>", channel_id="10", author_id="1")
"""

from __future__ import annotations

import datetime as dt
import itertools
import zlib
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..adapters.http import serve_http

__all__ = ["BOT_ID", "FakeDiscord", "Posted"]

BOT_ID = "999000000000000001"
APPLICATION_ID = "999000000000000002"


def _json(data: Any, status: int = 200) -> Response:
    # discord.py checks for exactly this content type.
    return Response(msgspec.json.encode(data), status_code=status, media_type="application/json")


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


@dataclass
class FakeDiscord:
    posted: list[Posted] = field(default_factory=list)
    typing: list[str] = field(default_factory=list)
    reactions: list[tuple[str, str, str]] = field(default_factory=list)
    """(channel id, message id, emoji) of each reaction Clara added, in order."""
    connected: trio.Event = field(default_factory=trio.Event)
    identified_token: str | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1_000_000_000_000_000_000))
    _socket: WebSocket | None = None
    _sequence: int = 0
    _compress: Any = None
    _nonces: dict[str, dict[str, Any]] = field(default_factory=dict)
    _posted_event: trio.Event = field(default_factory=trio.Event)
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
                Route(f"{api}/channels/{{channel_id}}/messages", self._post, methods=["POST"]),
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
        if nonce is not None and body.get("enforce_nonce") and nonce in self._nonces:
            return _json(self._nonces[nonce])  # Discord returns the message already posted
        reference = (body.get("message_reference") or {}).get("message_id")
        self.posted.append(
            Posted(
                channel_id=channel_id,
                content=body.get("content") or "",
                nonce=nonce,
                enforce_nonce=bool(body.get("enforce_nonce")),
                reference=str(reference) if reference else None,
                files=files,
            )
        )
        message = self._message(channel_id, body.get("content") or "", BOT_ID, "Clara", bot=True)
        if nonce is not None:
            self._nonces[nonce] = message
        self._posted_event.set()
        return _json(message)

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
                "id": str(next(self._ids)),
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
        interaction_id = str(next(self._ids))
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
        self, guild_id: str, channel_ids: tuple[str, ...], roles: tuple[str, ...] = ()
    ) -> None:
        """A server Clara is in, with text channels and roles: GUILD_CREATE."""
        everyone = {
            "id": guild_id,
            "name": "@everyone",
            "permissions": "0",
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
        }
        await self.dispatch(
            "GUILD_CREATE",
            {
                "id": guild_id,
                "name": f"guild {guild_id}",
                "icon": None,
                "owner_id": "1",
                "unavailable": False,
                "member_count": 2,
                "large": False,
                "features": [],
                "emojis": [],
                "stickers": [],
                "roles": [everyone]
                + [
                    {**everyone, "id": role, "name": f"role {role}", "position": 1}
                    for role in roles
                ],
                "channels": [
                    {
                        "id": channel,
                        "type": 0,
                        "name": f"channel-{channel}",
                        "position": index,
                        "permission_overwrites": [],
                        "guild_id": guild_id,
                    }
                    for index, channel in enumerate(channel_ids)
                ],
                "members": [],
                "threads": [],
                "voice_states": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
            },
        )

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
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "id": message_id or str(next(self._ids)),
            "channel_id": channel_id,
            "author": _user(author_id, author_name, bot=bot),
            "content": content,
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
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
            message["member"] = {
                "roles": list(roles),
                "joined_at": dt.datetime.now(dt.UTC).isoformat(),
                "deaf": False,
                "mute": False,
                "flags": 0,
            }
        return message

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
    ) -> dict[str, Any]:
        """Someone writes in a channel (a DM when ``guild_id`` is None): MESSAGE_CREATE."""
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
        )
        await self.dispatch("MESSAGE_CREATE", message)
        return message
