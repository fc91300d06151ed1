"""``/email rules`` and ``/email presets``: an account's rules shown, and edited in place.

Each edit is a pure function from the rules as stored (in order) to the new list and a
sentence saying what changed; ``/email`` runs it inside one unit of work
(``change_email_rules``), so two edits at once never lose one another. Every rule an edit
makes or touches is checked by the rule model (``rules.Rule``: kinds, values, a regex that
compiles), never here: a rule the account actor would refuse is never saved.

Remember when reading replies: an account **without rules alerts every message**; once it has
one, only mail a rule matches is alerted (``rules.py``). The first rule, and removing the
last one, say so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from ...store import EmailRuleRecord
from .replies import EmailCommandError
from .rules import (
    CONDITION_KINDS,
    PRESETS,
    Importance,
    Rule,
    RuleError,
    rule_from_record,
    rule_to_record,
)

__all__ = [
    "ACTIONS",
    "MAX_RULES",
    "Edit",
    "add_condition",
    "apply_preset",
    "move_rule",
    "presets_text",
    "remove_rule",
    "rules_text",
    "set_rule_enabled",
]

#: What ``/email rules action:`` takes.
ACTIONS = ("list", "add", "remove", "move", "enable", "disable")
#: Rules one account may have; characters of a condition's value and of a rule's name.
MAX_RULES = 50
MAX_VALUE = 200
MAX_NAME = 100

_WORDS = {
    "sender_contains": "sender contains",
    "sender_domain": "sender's domain is",
    "subject_contains": "subject contains",
    "subject_regex": "subject matches",
    "body_contains": "text contains",
    "has_attachments": "has attachments",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EVERY_MESSAGE = "every new message is alerted"
_FILTER_NOW = " From now on only mail a rule matches is alerted (without rules, every message is)."

#: What an edit returns: the rules in their new order, and the sentence saying what changed.
Edit = tuple[list[EmailRuleRecord], str]


def _condition_text(kind: str, value: str) -> str:
    if kind == "has_attachments":
        return "has no attachments" if value == "false" else "has attachments"
    return f"{_WORDS.get(kind, kind)} {value!r}"


def _rule_line(index: int, record: EmailRuleRecord) -> str:
    raw = record.criteria.get("conditions")
    conditions = raw if isinstance(raw, list) else []
    parts = [
        _condition_text(str(item.get("kind", "?")), str(item.get("value", "")))
        for item in conditions
        if isinstance(item, dict)
    ]
    joined = "; ".join(parts)
    if len(joined) > 300:
        joined = joined[:297] + "…"
    state = "" if record.enabled else " (off)"
    how = "any" if record.match != "all" else "all"
    return f"{index}. {record.name}{state}: {record.importance}, {how} of: {joined}"


def rules_text(address: str, records: Sequence[EmailRuleRecord]) -> str:
    """The account's rules, numbered in the order they are tried."""
    if not records:
        return (
            f"{address} has no rules: {_EVERY_MESSAGE}, at normal importance. Add one with "
            "/email rules action:add, or a ready-made set with /email presets."
        )
    lines = [_rule_line(index, record) for index, record in enumerate(records, start=1)]
    return (
        f"Rules of {address}, tried in order (the first that matches gives the importance; "
        "mail no rule matches is not alerted):\n" + "\n".join(lines)
    )


def _checked(record: EmailRuleRecord) -> EmailRuleRecord:
    """``record`` as the rule model sees it (what it refuses, refused here)."""
    try:
        return rule_to_record(rule_from_record(record))
    except RuleError as error:
        raise EmailCommandError(str(error)) from None


def find_rule(records: Sequence[EmailRuleRecord], reference: str) -> int:
    """The index of the rule ``reference`` names: its number (from 1) or its name."""
    text = reference.strip()
    if not text:
        raise EmailCommandError("rule: required: the rule's number or name (see /email rules)")
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= len(records):
            raise EmailCommandError(
                f"rule: there is no rule {number}; the rules are numbered 1 to {len(records)}"
                if records
                else "rule: this account has no rules"
            )
        return number - 1
    for index, record in enumerate(records):
        if record.name.lower() == text.lower():
            return index
    names = ", ".join(repr(record.name) for record in records) or "none"
    raise EmailCommandError(f"rule: no rule is named {text[:80]!r}; the rules: {names}")


def _value(kind: str, value: str) -> str:
    if kind == "has_attachments":
        lowered = value.strip().lower()
        if lowered in ("", "true", "yes", "with"):
            return ""
        if lowered in ("false", "no", "without"):
            return "false"
        raise EmailCommandError(
            f"value: for has_attachments leave it empty (with attachments) or say false "
            f"(without); got {value[:40]!r}"
        )
    text = value.strip()
    if kind == "sender_domain":
        text = text.lstrip("@").lower()
    if not text:
        raise EmailCommandError(f"value: required for {kind}: the text to look for")
    if len(text) > MAX_VALUE or _CONTROL.search(text):
        raise EmailCommandError(
            f"value: at most {MAX_VALUE} characters and no control characters; got "
            f"{len(text)} characters"
        )
    return text


def add_condition(
    records: Sequence[EmailRuleRecord],
    *,
    kind: str,
    value: str,
    importance: str = "",
    match: str = "",
    name: str = "",
) -> Edit:
    """A new rule at the end with one condition, or, when ``name`` is an existing rule's,
    that condition added to it (``importance`` / ``match``, when given, change it too)."""
    if kind not in CONDITION_KINDS:
        raise EmailCommandError(f"kind: must be one of {', '.join(CONDITION_KINDS)}; got {kind!r}")
    if importance and importance not in {level.value for level in Importance}:
        levels = ", ".join(level.value for level in Importance)
        raise EmailCommandError(f"importance: must be one of {levels}; got {importance!r}")
    if match and match not in ("any", "all"):
        raise EmailCommandError(f"match: must be any or all; got {match!r}")
    value = _value(kind, value)
    label = name.strip()
    if len(label) > MAX_NAME or _CONTROL.search(label):
        raise EmailCommandError(f"name: at most {MAX_NAME} characters, on one line")
    label = label or _condition_text(kind, value)[:MAX_NAME]
    condition = {"kind": kind, "value": value}
    rules = list(records)
    for index, record in enumerate(rules):
        if record.name.lower() != label.lower():
            continue
        conditions = list(record.criteria.get("conditions") or [])
        if condition in conditions:
            raise EmailCommandError(
                f"rule {record.name!r} already has the condition {_condition_text(kind, value)}"
            )
        updated = msgspec.structs.replace(
            record,
            criteria={**record.criteria, "conditions": [*conditions, condition]},
            importance=importance or record.importance,
            match=match or record.match,
        )
        rules[index] = _checked(updated)
        how = "all of" if updated.match == "all" else "any of"
        return rules, (
            f"Rule {index + 1} ({record.name}) has one more condition, "
            f"{_condition_text(kind, value)}; it matches mail that meets {how} them."
        )
    if len(rules) >= MAX_RULES:
        raise EmailCommandError(f"An account has at most {MAX_RULES} rules; remove one first.")
    rules.append(
        _checked(
            EmailRuleRecord(
                name=label,
                criteria={"conditions": [condition]},
                importance=importance or "normal",
                match=match or "any",
            )
        )
    )
    said = f"Added rule {len(rules)} ({label})."
    if len(rules) == 1:
        said += (
            " From now on only mail a rule matches is alerted (without rules, every message is)."
        )
    return rules, said


def remove_rule(records: Sequence[EmailRuleRecord], reference: str) -> Edit:
    index = find_rule(records, reference)
    rules = list(records)
    removed = rules.pop(index)
    said = f"Removed rule {index + 1} ({removed.name})."
    if not rules:
        said += f" No rules left: {_EVERY_MESSAGE} again."
    return rules, said


def move_rule(records: Sequence[EmailRuleRecord], reference: str, position: object) -> Edit:
    index = find_rule(records, reference)
    try:
        target = int(str(position).strip())
    except ValueError:
        raise EmailCommandError(
            f"position: the rule's new number (1 to {len(records)}); got {str(position)[:20]!r}"
        ) from None
    if not 1 <= target <= len(records):
        raise EmailCommandError(f"position: must be between 1 and {len(records)}; got {target}")
    rules = list(records)
    moved = rules.pop(index)
    rules.insert(target - 1, moved)
    return rules, f"Moved {moved.name} to {target}: it is tried {_ordinal(target)}."


def _ordinal(number: int) -> str:
    if number == 1:
        return "first"
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def set_rule_enabled(records: Sequence[EmailRuleRecord], reference: str, enabled: bool) -> Edit:
    index = find_rule(records, reference)
    rules = list(records)
    rules[index] = msgspec.structs.replace(rules[index], enabled=enabled)
    return rules, f"Rule {index + 1} ({rules[index].name}) is {'on' if enabled else 'off'}."


def _preset_line(name: str, rule: Rule) -> str:
    parts = "; ".join(_condition_text(c.kind, c.value) for c in rule.conditions)
    if len(parts) > 200:
        parts = parts[:197] + "…"
    return f"- {name}: rule {rule.name!r}, {rule.importance.value}, any of: {parts}"


def presets_text() -> str:
    """Every preset and the rule it makes."""
    lines = [_preset_line(name, factory()) for name, factory in PRESETS.items()]
    return (
        "Presets (each adds one ordinary rule you can then edit, move or remove):\n"
        + "\n".join(lines)
        + "\nApply one with /email presets preset:NAME."
    )


def apply_preset(records: Sequence[EmailRuleRecord], preset: str) -> Edit:
    """The preset's rule added at the end (refused when a rule has its name already)."""
    factory = PRESETS.get(preset)
    if factory is None:
        raise EmailCommandError(f"preset: must be one of {', '.join(PRESETS)}; got {preset!r}")
    rule = factory()
    if any(record.name.lower() == rule.name.lower() for record in records):
        raise EmailCommandError(
            f"This account already has a rule named {rule.name!r}; remove it first to apply "
            f"the {preset} preset again."
        )
    if len(records) >= MAX_RULES:
        raise EmailCommandError(f"An account has at most {MAX_RULES} rules; remove one first.")
    rules = [*records, rule_to_record(rule)]
    said = (
        f"Added rule {len(rules)} ({rule.name}, {rule.importance.value}) from the {preset} "
        "preset; change it with /email rules."
    )
    if len(rules) == 1:
        said += (
            " From now on only mail a rule matches is alerted (without rules, every message is)."
        )
    return rules, said
