"""The rules: every condition, any/all, order, importance, presets, the regex time limit."""

from __future__ import annotations

import datetime as dt

import pytest

from clara.actors.email import (
    PRESETS,
    Condition,
    Importance,
    Rule,
    RuleError,
    evaluate,
    expand_presets,
    rule_from_record,
    rule_to_record,
)
from clara.adapters.email import FetchedMail
from clara.store import EmailRuleRecord


def mail(
    subject: str = "Hello",
    sender: str = "Bob <bob@mail.example.com>",
    snippet: str = "",
    attachments: bool = False,
) -> FetchedMail:
    address = sender.rpartition("<")[2].rstrip(">").lower()
    return FetchedMail(
        uid=1,
        sender=sender,
        sender_address=address,
        subject=subject,
        date=None,
        internal_date=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        has_attachments=attachments,
        snippet=snippet,
        message_id=None,
    )


def rule(*conditions: tuple[str, str], match: str = "any", importance: str = "normal") -> Rule:
    return Rule(
        name="r",
        conditions=tuple(Condition(kind, value) for kind, value in conditions),
        match=match,
        importance=Importance(importance),
    )


@pytest.mark.parametrize(
    ("condition", "message", "expected"),
    [
        (("sender_contains", "BOB@"), mail(), True),
        (("sender_contains", "alice"), mail(), False),
        (("sender_domain", "example.com"), mail(), True),  # a subdomain counts
        (("sender_domain", "@mail.example.com"), mail(), True),
        (("sender_domain", "ample.com"), mail(), False),  # not a suffix of a label
        (("subject_contains", "invoice"), mail("Your INVOICE is ready"), True),
        (("subject_contains", "invoice"), mail("Hello"), False),
        (("subject_regex", r"order #\d+"), mail("Order #123 shipped"), True),
        (("subject_regex", r"^re:"), mail("Hello"), False),
        (("body_contains", "tracking number"), mail(snippet="Your Tracking Number is"), True),
        (("body_contains", "tracking"), mail(snippet=""), False),
        (("has_attachments", ""), mail(attachments=True), True),
        (("has_attachments", ""), mail(attachments=False), False),
        (("has_attachments", "false"), mail(attachments=False), True),
    ],
)
def test_each_condition_matches_what_it_names(
    condition: tuple[str, str], message: FetchedMail, expected: bool
) -> None:
    picked = evaluate([rule(condition)], message)
    assert (picked is not None) is expected


def test_any_needs_one_condition_and_all_needs_every_one() -> None:
    conditions = (("subject_contains", "invoice"), ("sender_domain", "bank.com"))
    invoice_from_bob = mail("invoice")
    assert evaluate([rule(*conditions, match="any")], invoice_from_bob) is not None
    assert evaluate([rule(*conditions, match="all")], invoice_from_bob) is None
    both = mail("invoice", sender="x@bank.com")
    assert evaluate([rule(*conditions, match="all")], both) is not None


def test_the_first_enabled_matching_rule_in_order_wins_with_its_importance() -> None:
    disabled = Rule(
        name="off", conditions=(Condition("subject_contains", "a"),), enabled=False,
        importance=Importance.URGENT,
    )  # fmt: skip
    first = Rule(name="first", conditions=(Condition("subject_contains", "a"),),
                 importance=Importance.HIGH)  # fmt: skip
    second = Rule(name="second", conditions=(Condition("subject_contains", "a"),),
                  importance=Importance.LOW)  # fmt: skip
    picked = evaluate([disabled, first, second], mail("a thing"))
    assert picked is not None and (picked.rule_name, picked.importance) == ("first", "high")
    picked = evaluate([disabled, second, first], mail("a thing"))
    assert picked is not None and picked.rule_name == "second"


def test_no_rules_alert_everything_at_normal_and_unmatched_mail_is_not_alerted() -> None:
    everything = evaluate([], mail())
    assert everything is not None and everything.rule_name is None
    assert everything.importance is Importance.NORMAL
    assert evaluate([rule(("subject_contains", "invoice"))], mail("Hello")) is None


def test_a_catastrophic_subject_regex_is_cut_off_and_counts_as_no_match(
    caplog: pytest.LogCaptureFixture,
) -> None:
    evil = rule(("subject_regex", r"(a|aa)+$"))
    assert evaluate([evil], mail("a" * 35 + "b")) is None
    assert "took over" in caplog.text


@pytest.mark.parametrize(
    ("build", "names"),
    [
        (lambda: Rule(name=" ", conditions=(Condition("subject_contains", "x"),)), "name"),
        (lambda: Rule(name="r", conditions=()), "at least one condition"),
        (lambda: Rule(name="r", conditions=(Condition("nope", "x"),)), "'nope'"),
        (lambda: Rule(name="r", conditions=(Condition("subject_contains", ""),)), "value"),
        (lambda: Rule(name="r", conditions=(Condition("subject_regex", "("),)), "compile"),
        (lambda: Rule(name="r", conditions=(Condition("subject_contains", "x"),), match="some"),
         "'some'"),
    ],
)  # fmt: skip
def test_a_bad_rule_is_refused_with_a_message_naming_the_problem(build: object, names: str) -> None:
    with pytest.raises(RuleError, match=names):
        build()  # type: ignore[operator]


def test_records_round_trip_and_bad_records_are_named() -> None:
    original = rule(("sender_domain", "bank.com"), ("has_attachments", ""), match="all",
                    importance="urgent")  # fmt: skip
    assert rule_from_record(rule_to_record(original, 3)) == original
    with pytest.raises(RuleError, match="importance"):
        rule_from_record(EmailRuleRecord(name="x", criteria={"conditions": []}, importance="meh"))
    with pytest.raises(RuleError, match="criteria.conditions"):
        rule_from_record(EmailRuleRecord(name="x", criteria={}))


def test_presets_expand_into_ordinary_editable_rules() -> None:
    rules = expand_presets(["urgent", "security", "job_hunting", "financial", "shipping"])
    assert [r.name for r in rules] == ["Urgent", "Security", "Job hunting", "Financial", "Shipping"]
    assert set(PRESETS) == {"job_hunting", "urgent", "security", "financial", "shipping"}
    picked = evaluate(rules, mail("URGENT: action required"))
    assert picked is not None and picked.importance is Importance.URGENT
    picked = evaluate(rules, mail("Interview invitation", sender="jobs@acme.greenhouse.io"))
    assert picked is not None and picked.rule_name == "Job hunting"
    picked = evaluate(rules, mail("Your order has shipped"))
    assert picked is not None and picked.importance is Importance.LOW
    edited = rule_from_record(rule_to_record(rules[0]))  # stored, then editable as any rule
    assert edited == rules[0]
    with pytest.raises(RuleError, match="unknown email preset 'spam'"):
        expand_presets(["spam"])
