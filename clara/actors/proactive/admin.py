"""``/ors``: a person's say over Clara reaching out on her own, and a server's.

- ``status``: whether Clara may reach out to you, when she looks next (your local time),
  her last decision, your quiet hours, where she reaches you, your calendar feed's state,
  and this server's choice;
- ``enable`` / ``disable``: for yourself; with ``scope:server``, for everyone reached in this
  server (administrators);
- ``quiet hours:HH-HH`` (or ``default``): your own quiet hours, in your own time zone;
- ``channel where:here|dm``: where Clara reaches you (a server channel you are in, or DMs);
- ``calendar url:<iCalendar feed>`` (or ``off``): events Clara may mention. The URL is checked,
  stored encrypted and never shown again (it carries a secret).

Each person may run ``CLARA_PROACTIVE_OPS_PER_MINUTE`` a minute; every one, done or refused,
is written to the audit log (a calendar URL never is).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import trio

from ...adapters.chat import Author
from ...adapters.network import Resolver, host_is_private, resolve_host
from ...config import DiscordSettings, ProactiveSettings
from ...proactive import QuietHours, stagger
from ...proactive.zones import local, zone
from ...store import Database
from ...store._proactive import (
    load_person,
    save_person_choice,
    server_proactive_enabled,
    set_server_proactive,
)
from ...store._secrets import SecretBox
from ..policy import UserRates, is_admin, run_audited

__all__ = ["OPERATIONS", "ProactiveAdmin"]


OPERATIONS: dict[str, str] = {
    "status": "whether Clara may reach out to you on her own, and when she looks next",
    "enable": "let Clara reach out to you (scope:server: everyone here; admins)",
    "disable": "stop Clara reaching out to you (scope:server: everyone here; admins)",
    "quiet": "your quiet hours (HH-HH in your time zone, or default)",
    "channel": "where Clara reaches you: here (this channel) or dm",
    "calendar": "an iCalendar feed Clara may read for upcoming events (or off)",
}


@dataclass
class ProactiveAdmin:
    """The operations, their checks, their audit."""

    settings: ProactiveSettings
    discord: DiscordSettings
    database: Database | None
    box: SecretBox | None
    clock: Callable[[], dt.datetime]
    forget_calendar: Callable[[int], None] | None = None
    rates: UserRates = field(default_factory=UserRates)
    resolve: Resolver | None = None
    """Resolves a feed's host (default: the system's resolver), to refuse private ones."""

    async def run(
        self,
        name: str,
        options: dict[str, Any],
        author: Author,
        *,
        platform: str,
        channel_id: str,
        guild_id: str | None,
    ) -> str:
        """Run ``/ors name`` for ``author``; the text to show them."""
        who = f"{platform}:{author.id}"
        server_wide = str(options.get("scope") or "").lower() == "server"
        target = f"{platform}:{guild_id}" if server_wide and guild_id else who
        details = {
            key: ("(given)" if key in ("feed", "url") else str(value)[:100])
            for key, value in options.items()
            if value is not None
        }
        details["channel"] = channel_id
        if name not in OPERATIONS:
            return f"There is no /ors {name}; try one of: {', '.join(OPERATIONS)}."
        if self.database is None:
            return "Clara has no store here, so she keeps no proactive state to show or change."
        per_minute = self.settings.ops_per_minute
        return await run_audited(
            self.database,
            action=f"ors.{name}",
            who=who,
            target=target,
            details=details,
            rates=self.rates,
            per_minute=per_minute,
            too_many=(
                f"Too many /ors commands: {per_minute} a minute at most. Try again in a moment."
            ),
            refusal=self._server_refusal(name, author, guild_id) if server_wide else None,
            work=lambda: self._do(
                name, options, author, platform=platform, channel_id=channel_id, guild_id=guild_id
            ),
            failed=lambda error: f"/ors {name}: {error}",
        )

    def _server_refusal(self, name: str, author: Author, guild_id: str | None) -> str | None:
        if name not in ("enable", "disable"):
            return f"scope:server goes with /ors enable and /ors disable only, not /ors {name}."
        if guild_id is None:
            return "scope:server is a server's setting: use it in a server, not in a DM."
        if not is_admin(author, self.discord):
            role = f" or the {self.discord.admin_role} role" if self.discord.admin_role else ""
            return f"Only server administrators{role} can change this for the whole server."
        return None

    async def _do(
        self,
        name: str,
        options: dict[str, Any],
        author: Author,
        *,
        platform: str,
        channel_id: str,
        guild_id: str | None,
    ) -> str:
        assert self.database is not None
        database = self.database
        user_id = author.id
        first = self.clock() + stagger(f"{platform}:{user_id}", dt.timedelta(minutes=30))
        if name == "status":
            return await self._status(platform, user_id, guild_id)
        if name in ("enable", "disable"):
            enabled = name == "enable"
            if str(options.get("scope") or "").lower() == "server":
                assert guild_id is not None
                await database.write(
                    set_server_proactive, platform, guild_id, enabled, f"{platform}:{user_id}"
                )
                return (
                    "Clara may reach out to people in this server again."
                    if enabled
                    else "Clara will not reach out on her own to anyone in this server."
                )
            await database.write(
                lambda session: save_person_choice(
                    session,
                    platform,
                    user_id,
                    name=author.name,
                    enabled=enabled,
                    next_check_at=first if enabled else None,
                )
            )
            return (
                "Clara may reach out to you on her own again (at most "
                f"{self.settings.max_per_day} a day, never in your quiet hours)."
                if enabled
                else "Clara will not reach out to you on her own. /ors enable to undo."
            )
        if name == "quiet":
            text = str(options.get("hours") or "").strip().lower()
            if not text:
                raise ValueError("give hours:HH-HH (e.g. 22-08), or hours:default")
            if text == "default":
                await database.write(
                    lambda session: save_person_choice(
                        session, platform, user_id, name=author.name, clear_quiet_hours=True
                    )
                )
                return f"Your quiet hours are the default again: {self.settings.quiet_hours}."
            quiet = QuietHours.parse(text)
            await database.write(
                lambda session: save_person_choice(
                    session, platform, user_id, name=author.name, quiet_hours=str(quiet)
                )
            )
            if quiet.none:
                return "You have no quiet hours now: Clara may reach out at any hour."
            return f"Your quiet hours: {quiet}, in your own time zone."
        if name == "channel":
            where = str(options.get("where") or "").strip().lower()
            if where not in ("here", "dm"):
                raise ValueError("where must be here (this channel) or dm")
            if where == "here" and guild_id is None:
                where = "dm"
            await database.write(
                lambda session: save_person_choice(
                    session,
                    platform,
                    user_id,
                    name=author.name,
                    reach_channel_id=channel_id if where == "here" else None,
                    reach_dm=where == "dm",
                )
            )
            if where == "dm":
                return "Clara reaches you in your DMs."
            return "Clara reaches you in this channel: everyone here reads what she writes to you."
        return await self._calendar(options, author, platform)

    async def _calendar(self, options: dict[str, Any], author: Author, platform: str) -> str:
        assert self.database is not None
        from ...proactive.calendar import validate_feed_url  # noqa: PLC0415 - icalendar

        text = str(options.get("feed") or options.get("url") or "").strip()
        if not text:
            raise ValueError("give feed:<your calendar's iCalendar (ics) address>, or feed:off")
        if text.lower() == "off":
            await self.database.write(
                lambda session: save_person_choice(
                    session, platform, author.id, name=author.name, clear_calendar=True
                )
            )
            await self._forget(platform, author.id)
            return "Your calendar feed is forgotten."
        if self.box is None:
            raise ValueError(
                "this Clara keeps no secrets (no encryption key): calendar feeds are off"
            )
        url = validate_feed_url(text)
        if not self.settings.private_feeds:
            await self._refuse_private(url)
        sealed = self.box.encrypt(url)
        await self.database.write(
            lambda session: save_person_choice(
                session, platform, author.id, name=author.name, calendar_url=sealed
            )
        )
        await self._forget(platform, author.id)
        return (
            "Your calendar feed is kept (encrypted; it is not shown again). Clara reads the "
            "next day's events from it about once an hour."
        )

    async def _refuse_private(self, url: str) -> None:
        """A feed on this machine or a private network is refused unless the operator
        allows them (``CLARA_PROACTIVE_PRIVATE_FEEDS``): Clara fetching it would reach
        machines near her for whoever typed the address."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            private = await host_is_private(
                host, port, resolve=self.resolve or resolve_host, timeout=10.0
            )
        except (OSError, trio.TooSlowError):
            raise ValueError(f"the feed's host {host} does not resolve") from None
        if private:
            raise ValueError(
                f"the feed's host {host} is on this machine or a private network; Clara reads "
                "calendars on the internet only"
            )

    async def _forget(self, platform: str, user_id: str) -> None:
        """Drop the feed's cached events: the next check reads the new feed."""
        if self.forget_calendar is None or self.database is None:
            return
        person = await self.database.run(load_person, platform, user_id)
        if person is not None:
            self.forget_calendar(person.user_pk)

    async def _status(self, platform: str, user_id: str, guild_id: str | None) -> str:
        assert self.database is not None
        person = await self.database.run(load_person, platform, user_id)
        lines = []
        if not self.settings.enabled:
            lines.append("Clara does not reach out on her own here (CLARA_PROACTIVE_ENABLED).")
        if person is None:
            lines.append(
                "Clara has not started looking out for you yet: that begins after you write."
            )
        else:
            try:
                here = zone(person.time_zone)
            except ValueError:
                here = zone("UTC")
            state = "may reach out to you" if person.enabled else "will not reach out to you"
            lines.append(f"Clara {state} on her own (at most {self.settings.max_per_day} a day).")
            if person.enabled and person.next_check_at is not None:
                when = local(person.next_check_at, here).strftime("%a %d %b %H:%M")
                lines.append(f"Next look: {when} ({person.time_zone}).")
            if person.last_decision:
                lines.append(f"Last decision: {person.last_decision} after {person.checks} checks.")
            quiet = person.quiet_hours or self.settings.quiet_hours
            lines.append(
                f"Quiet hours: {quiet} ({'yours' if person.quiet_hours else 'the default'})."
            )
            reach = person.reach_channel_id
            lines.append("Reached in: " + ("your DMs." if reach is None else f"<#{reach}>."))
            lines.append(f"Calendar feed: {'set' if person.has_calendar else 'none'}.")
        if guild_id is not None:
            enabled = await self.database.run(server_proactive_enabled, platform, guild_id)
            lines.append(
                "This server: " + ("allowed." if enabled else "Clara does not reach out here.")
            )
        return "\n".join(lines)
