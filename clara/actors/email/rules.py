"""Which mail matters: an account's rules, matched in order, the first match wins.

A rule is a list of conditions matched ``any`` (one suffices) or ``all``, and an importance
(urgent, high, normal, low). Conditions: ``sender_contains``, ``sender_domain`` (the domain
or a subdomain of it), ``subject_contains``, ``subject_regex``, ``body_contains`` (the
snippet: the start of the first text part) and ``has_attachments``. Text matching ignores
case.

**No rules** means every new message is alerted, at normal importance: an account someone
connected without choosing rules should tell them about mail, not stay silent. Once it has
rules, they are a filter: mail that no enabled rule matches is not alerted.

A subject regex runs on the ``regex`` package with a time limit (``REGEX_TIMEOUT``): a
pattern that backtracks catastrophically on some subject counts as not matching, and is
logged, instead of freezing the account. Subjects are cut to ``MAX_SUBJECT`` characters too.

Presets (job hunting, urgent, security, financial, shipping) expand into ordinary rules the
owner can then edit, reorder or delete.

Pure: no I/O, nothing async.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
import regex  # type: ignore[import-untyped]  # ships no type information

from ...adapters.email import FetchedMail
from ...store import EmailRuleRecord

__all__ = [
    "CONDITION_KINDS",
    "MAX_SUBJECT",
    "PRESETS",
    "REGEX_TIMEOUT",
    "Condition",
    "Importance",
    "Rule",
    "RuleError",
    "RuleMatch",
    "evaluate",
    "expand_presets",
    "rule_from_record",
    "rule_to_record",
]

logger = logging.getLogger(__name__)

#: Seconds one subject regex may run on one subject.
REGEX_TIMEOUT = 0.05
#: Characters of a subject that rules look at.
MAX_SUBJECT = 1000

CONDITION_KINDS = (
    "sender_contains",
    "sender_domain",
    "subject_contains",
    "subject_regex",
    "body_contains",
    "has_attachments",
)
MATCH_MODES = ("any", "all")


class Importance(enum.StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class RuleError(ValueError):
    """A rule that cannot be used: the message names the rule, the field and the value."""


class Condition(msgspec.Struct, frozen=True):
    """One test on a message. ``value`` is the text to look for (ignored by
    ``has_attachments``, where ``"false"`` asks for mail *without* attachments)."""

    kind: str
    value: str = ""


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    conditions: tuple[Condition, ...]
    match: str = "any"
    importance: Importance = Importance.NORMAL
    enabled: bool = True

    def __post_init__(self) -> None:
        label = f"rule {self.name!r}"
        if not self.name.strip():
            raise RuleError("a rule needs a name; got an empty one")
        if self.match not in MATCH_MODES:
            raise RuleError(f"{label}: match must be one of {MATCH_MODES}; got {self.match!r}")
        if not self.conditions:
            raise RuleError(f"{label}: needs at least one condition")
        for condition in self.conditions:
            if condition.kind not in CONDITION_KINDS:
                raise RuleError(
                    f"{label}: condition kind must be one of {CONDITION_KINDS}; "
                    f"got {condition.kind!r}"
                )
            if condition.kind != "has_attachments" and not condition.value.strip():
                raise RuleError(f"{label}: {condition.kind} needs a value; got an empty one")
            if condition.kind == "subject_regex":
                try:
                    regex.compile(condition.value)
                except regex.error as error:
                    raise RuleError(
                        f"{label}: subject_regex {condition.value!r} does not compile: {error}"
                    ) from error


class RuleMatch(msgspec.Struct, frozen=True):
    """Why a message is alerted: the rule that matched (None: the account has no rules)."""

    rule_name: str | None
    importance: Importance


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return regex.compile(pattern, regex.IGNORECASE)


def _condition_holds(rule: Rule, condition: Condition, mail: FetchedMail) -> bool:
    value = condition.value.strip().lower()
    kind = condition.kind
    if kind == "sender_contains":
        return value in mail.sender.lower()
    if kind == "sender_domain":
        domain = mail.sender_address.rpartition("@")[2]
        value = value.lstrip("@")
        return domain == value or domain.endswith("." + value)
    if kind == "subject_contains":
        return value in mail.subject[:MAX_SUBJECT].lower()
    if kind == "body_contains":
        return value in mail.snippet.lower()
    if kind == "has_attachments":
        return mail.has_attachments != (value == "false")
    # subject_regex
    try:
        return (
            _compiled(condition.value).search(mail.subject[:MAX_SUBJECT], timeout=REGEX_TIMEOUT)
            is not None
        )
    except TimeoutError:
        logger.warning(
            "email rule %r: subject_regex took over %s s on a subject; counted as no match",
            rule.name,
            REGEX_TIMEOUT,
        )
        return False


def matches(rule: Rule, mail: FetchedMail) -> bool:
    """Whether ``rule`` (enabled or not) matches ``mail``."""
    results = (_condition_holds(rule, condition, mail) for condition in rule.conditions)
    return all(results) if rule.match == "all" else any(results)


def evaluate(rules: Sequence[Rule], mail: FetchedMail) -> RuleMatch | None:
    """The first enabled rule, in order, that matches ``mail``; None when none does.

    No rules at all alerts every message at normal importance (see the module's doc).
    """
    if not rules:
        return RuleMatch(None, Importance.NORMAL)
    for rule in rules:
        if rule.enabled and matches(rule, mail):
            return RuleMatch(rule.name, rule.importance)
    return None


def rule_from_record(record: EmailRuleRecord) -> Rule:
    """A stored rule, checked.

    Raises:
        RuleError: the record is not a usable rule (named in the message).
    """
    raw = record.criteria.get("conditions")
    if not isinstance(raw, list):
        raise RuleError(
            f"rule {record.name!r}: criteria.conditions must be a list; got {type(raw).__name__}"
        )
    conditions = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            raise RuleError(
                f"rule {record.name!r}: each condition must be an object with a kind; "
                f"got {type(item).__name__}"
            )
        conditions.append(Condition(item["kind"], str(item.get("value", ""))))
    try:
        importance = Importance(record.importance)
    except ValueError as error:
        raise RuleError(
            f"rule {record.name!r}: importance must be one of "
            f"{[level.value for level in Importance]}; got {record.importance!r}"
        ) from error
    return Rule(
        name=record.name,
        conditions=tuple(conditions),
        match=record.match,
        importance=importance,
        enabled=record.enabled,
    )


def rule_to_record(rule: Rule, position: int = 0) -> EmailRuleRecord:
    return EmailRuleRecord(
        name=rule.name,
        criteria={"conditions": [{"kind": c.kind, "value": c.value} for c in rule.conditions]},
        enabled=rule.enabled,
        position=position,
        importance=rule.importance.value,
        match=rule.match,
    )


def _any(name: str, importance: Importance, pairs: Iterable[tuple[str, str]]) -> Rule:
    return Rule(
        name=name,
        conditions=tuple(Condition(kind, value) for kind, value in pairs),
        importance=importance,
    )


def _job_hunting() -> Rule:
    words = ("interview", "application", "job offer", "recruiter", "your candidacy")
    domains = ("greenhouse.io", "lever.co", "myworkday.com", "smartrecruiters.com")
    return _any(
        "Job hunting",
        Importance.HIGH,
        [("subject_contains", w) for w in words] + [("sender_domain", d) for d in domains],
    )


def _urgent() -> Rule:
    return _any(
        "Urgent",
        Importance.URGENT,
        [("subject_regex", r"\b(urgent|asap|immediately|action required|time.sensitive)\b")],
    )


def _security() -> Rule:
    words = (
        "security alert",
        "new sign-in",
        "sign-in attempt",
        "password reset",
        "verification code",
        "two-factor",
        "suspicious",
    )
    return _any("Security", Importance.HIGH, [("subject_contains", w) for w in words])


def _financial() -> Rule:
    words = ("invoice", "payment", "receipt", "statement", "transaction", "refund", "overdue")
    return _any("Financial", Importance.NORMAL, [("subject_contains", w) for w in words])


def _shipping() -> Rule:
    words = ("shipped", "out for delivery", "delivered", "tracking", "your order", "dispatched")
    return _any("Shipping", Importance.LOW, [("subject_contains", w) for w in words])


#: Preset name → the rule it expands into.
PRESETS: dict[str, Callable[[], Rule]] = {
    "job_hunting": _job_hunting,
    "urgent": _urgent,
    "security": _security,
    "financial": _financial,
    "shipping": _shipping,
}


def expand_presets(names: Iterable[str]) -> list[Rule]:
    """The rules the presets ``names`` stand for, in the order given (editable rules).

    Raises:
        RuleError: an unknown preset (the message lists the known ones).
    """
    rules = []
    for name in names:
        factory = PRESETS.get(name)
        if factory is None:
            raise RuleError(f"unknown email preset {name!r}; known: {sorted(PRESETS)}")
        rules.append(factory())
    return rules
