"""``/email rules|presets|quiet|channel``: one account's settings, shown or changed.

Each function acts on an account ``EmailAdmin`` has already found among the person's own,
and returns the sentence to show; a refusal is an ``EmailCommandError`` naming the option.
What they change is saved before they answer; ``EmailAdmin`` then has the account's actor
restarted (it reads its settings when it starts) and writes the audit record.

``channel to:here`` takes no channel id: it is always the channel the command is run in,
and only a server channel (in a DM, "here" is the DM). So a person can only send alerts
where they are themselves, and the reply says that everyone who reads that channel sees
them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...store import (
    Database,
    EmailRuleRecord,
    StoredEmailAccount,
    change_email_rules,
    load_email_rules,
    set_email_alert_channel,
    set_email_ping_owner,
    set_email_quiet_hours,
)
from .quiet import QuietHours, parse_clock
from .replies import EmailCommandError
from .rule_edits import (
    ACTIONS,
    Edit,
    add_condition,
    apply_preset,
    move_rule,
    remove_rule,
    rules_text,
    set_rule_enabled,
)

__all__ = ["channel_command", "preset_command", "quiet_command", "rules_command"]

_GONE = "That account is no longer connected."


def _text(options: dict[str, Any], name: str) -> str:
    value = options.get(name)
    return "" if value is None else str(value).strip()


async def _edit_rules(
    database: Database, account_id: int, edit: Callable[[list[EmailRuleRecord]], Edit]
) -> str:
    """Run ``edit`` on the account's rules in one unit of work; its sentence."""
    said: list[str] = []

    def change(rules: list[EmailRuleRecord]) -> list[EmailRuleRecord]:
        new, sentence = edit(rules)
        said.append(sentence)
        return new

    try:
        await database.write(change_email_rules, account_id, change)
    except LookupError:
        raise EmailCommandError(_GONE) from None
    return said[-1]


async def rules_command(
    database: Database, account: StoredEmailAccount, options: dict[str, Any]
) -> tuple[str, bool]:
    """``/email rules``: the rules listed, or one edit (``action``). Returns the answer and
    whether anything changed."""
    action = _text(options, "action").lower() or "list"
    if action == "list":
        return rules_text(account.address, await database.run(load_email_rules, account.id)), False
    reference = _text(options, "rule")
    edit: Callable[[list[EmailRuleRecord]], Edit]
    if action == "add":
        kind, value = _text(options, "kind").lower(), str(options.get("value") or "")
        importance, match = _text(options, "importance").lower(), _text(options, "match").lower()
        name = _text(options, "name")

        def edit(rules: list[EmailRuleRecord]) -> Edit:
            return add_condition(
                rules, kind=kind, value=value, importance=importance, match=match, name=name
            )

    elif action == "remove":

        def edit(rules: list[EmailRuleRecord]) -> Edit:
            return remove_rule(rules, reference)

    elif action == "move":
        position = options.get("position")

        def edit(rules: list[EmailRuleRecord]) -> Edit:
            return move_rule(rules, reference, position)

    elif action in ("enable", "disable"):
        on = action == "enable"

        def edit(rules: list[EmailRuleRecord]) -> Edit:
            return set_rule_enabled(rules, reference, on)

    else:
        raise EmailCommandError(f"action: must be one of {', '.join(ACTIONS)}; got {action!r}")
    return await _edit_rules(database, account.id, edit), True


async def preset_command(database: Database, account: StoredEmailAccount, preset: str) -> str:
    """``/email presets preset:NAME``: the preset's rule added to the account's."""
    name = preset.strip().lower()
    return await _edit_rules(database, account.id, lambda rules: apply_preset(rules, name))


def _window(hours: str) -> tuple[str, str]:
    """``HH:MM-HH:MM`` as its two ends."""
    start, sep, end = hours.replace("\u2013", "-").replace(" ", "").partition("-")
    if not sep:
        raise EmailCommandError(
            f"hours: give a window HH:MM-HH:MM (e.g. 22:00-07:30) or off; got {hours[:40]!r}"
        )
    try:
        parse_clock(start, "hours: the start")
        parse_clock(end, "hours: the end")
    except ValueError as error:
        raise EmailCommandError(str(error)) from None
    if start == end:
        raise EmailCommandError(
            "hours: the start and the end are the same, which is never quiet; say off to have "
            "no quiet hours"
        )
    return start, end


async def quiet_command(
    database: Database, account: StoredEmailAccount, hours: str, zone: str
) -> tuple[str, bool]:
    """``/email quiet``: the account's quiet hours shown, set (``HH:MM-HH:MM`` in the
    owner's time zone ``zone``) or turned off. Returns the answer and whether it changed."""
    hours = hours.strip().lower()
    if not hours:
        if account.quiet_start and account.quiet_end:
            return (
                f"Quiet hours of {account.address}: {account.quiet_start}-{account.quiet_end} "
                f"in your time zone ({zone}). Turn them off with /email quiet hours:off."
            ), False
        return (
            f"{account.address} has no quiet hours. Set some with /email quiet "
            "hours:22:00-07:30 (in your time zone)."
        ), False
    start, end = (None, None) if hours == "off" else _window(hours)
    try:
        await database.write(set_email_quiet_hours, account.id, start, end)
    except LookupError:
        raise EmailCommandError(_GONE) from None
    if start is None or end is None:
        return f"{account.address} has no quiet hours now: alerts come at once.", True
    try:
        QuietHours.parse(start, end, zone)
        zone_text = zone
    except ValueError:  # the account actor falls back to UTC the same way
        zone_text = f"UTC, as your time zone {zone!r} is unknown here"
    return (
        f"Quiet hours of {account.address}: {start}-{end} in your time zone ({zone_text}). "
        "Urgent alerts still come at once; the others wait and arrive together, as one "
        f"digest, at {end}."
    ), True


async def channel_command(
    database: Database,
    account: StoredEmailAccount,
    options: dict[str, Any],
    *,
    channel_id: str,
    guild_id: str | None,
    details: dict[str, Any],
) -> tuple[str, bool]:
    """``/email channel``: where the account's alerts go (``to:here|dm``) and whether they
    ping the owner (``ping:on|off``), shown or changed. Adds the destination to
    ``details`` (the audit record's). Returns the answer and whether anything changed."""
    to, ping = _text(options, "to").lower(), _text(options, "ping").lower()
    if to not in ("", "here", "dm"):
        raise EmailCommandError(f"to: must be here or dm; got {to[:20]!r}")
    if ping not in ("", "on", "off"):
        raise EmailCommandError(f"ping: must be on or off; got {ping[:20]!r}")
    if not to and not ping:
        where = f"<#{account.alert_channel_id}>" if account.alert_channel_id else "your DMs"
        return (
            f"Alerts of {account.address} go to {where}, ping "
            f"{'on' if account.ping_owner else 'off'}. Change it with /email channel to:here "
            "(a server channel you run it in) or to:dm, and ping:on or ping:off."
        ), False
    said = []
    try:
        if to:
            channel = channel_id if to == "here" and guild_id is not None else None
            details["channel"] = f"{guild_id}:{channel}" if channel else "dm"
            await database.write(set_email_alert_channel, account.id, channel)
            if channel is not None:
                said.append(
                    f"Alerts of {account.address} now go to <#{channel}>. Everyone who can read "
                    "this channel sees each alert's sender, subject and first lines; "
                    "/email channel to:dm makes them private again."
                )
            elif to == "here":
                said.append("This is a DM: alerts come to your DMs.")
            else:
                said.append(f"Alerts of {account.address} now come to your DMs.")
        if ping:
            await database.write(set_email_ping_owner, account.id, ping == "on")
            said.append("Alerts ping you." if ping == "on" else "Alerts arrive without a ping.")
    except LookupError:
        raise EmailCommandError(_GONE) from None
    return " ".join(said), True
