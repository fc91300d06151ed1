"""Email accounts as actors: one ``EmailAccountActor`` per account, its rules, its alerts.

- ``account``: the actor (IDLE or polling over one connection; durable alerts).
- ``rules``: which mail matters (pure).
- ``alerts``: the ``AlertSink`` protocol and ``ChatAlertSink``.
- ``subsystem``: the ``/clara/email`` subtree for run.py.
"""

from .account import AccountOptions, CheckNow, EmailAccountActor, QuietHoursOver, message_key
from .alerts import (
    IMPORTANCE_COLOURS,
    AccountNotice,
    Alert,
    AlertSink,
    AlertUndeliverable,
    ChatAlertSink,
    Digest,
    EmbedAlertSink,
    NoticeKind,
    alert_embed,
    alert_text,
    notice_embed,
    notice_text,
)
from .quiet import QuietHours
from .rules import (
    PRESETS,
    Condition,
    Importance,
    Rule,
    RuleError,
    RuleMatch,
    evaluate,
    expand_presets,
    rule_from_record,
    rule_to_record,
)
from .subsystem import EmailSystem, email_subsystem
from .tools import MailOwnersRefresher, mail_tools_child

__all__ = [
    "IMPORTANCE_COLOURS",
    "PRESETS",
    "AccountNotice",
    "AccountOptions",
    "Alert",
    "AlertSink",
    "AlertUndeliverable",
    "ChatAlertSink",
    "CheckNow",
    "Condition",
    "Digest",
    "EmailAccountActor",
    "EmailSystem",
    "EmbedAlertSink",
    "Importance",
    "MailOwnersRefresher",
    "NoticeKind",
    "QuietHours",
    "QuietHoursOver",
    "Rule",
    "RuleError",
    "RuleMatch",
    "alert_embed",
    "alert_text",
    "email_subsystem",
    "evaluate",
    "expand_presets",
    "mail_tools_child",
    "message_key",
    "notice_embed",
    "notice_text",
    "rule_from_record",
    "rule_to_record",
]
