"""Email accounts as actors: one ``EmailAccountActor`` per account, its rules, its alerts.

- ``account``: the actor (IDLE or polling over one connection; durable alerts).
- ``rules``: which mail matters (pure).
- ``alerts``: the ``AlertSink`` protocol and ``ChatAlertSink``.
- ``subsystem``: the ``/clara/email`` subtree for run.py.
- ``oauth``, ``tokens``: accounts that sign in with OAuth (``EmailOAuth``, ``EmailTokens``).
- ``commands``: ``/email``, people managing their own accounts (``EmailAdmin``).
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
from .commands import OPERATIONS as EMAIL_OPERATIONS
from .commands import AccountHook, EmailAdmin, account_statistics
from .connect import OAuthConnector
from .oauth import (
    EmailOAuth,
    check_email_oauth,
    email_oauth,
    oauth_redirect_url,
    shared_oauth_callback,
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
from .tokens import EmailTokens
from .tools import MailOwnersRefresher, mail_tools_child

__all__ = [
    "EMAIL_OPERATIONS",
    "IMPORTANCE_COLOURS",
    "PRESETS",
    "AccountHook",
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
    "EmailAdmin",
    "EmailOAuth",
    "EmailSystem",
    "EmailTokens",
    "EmbedAlertSink",
    "Importance",
    "MailOwnersRefresher",
    "NoticeKind",
    "OAuthConnector",
    "QuietHours",
    "QuietHoursOver",
    "Rule",
    "RuleError",
    "RuleMatch",
    "account_statistics",
    "alert_embed",
    "alert_text",
    "check_email_oauth",
    "email_oauth",
    "email_subsystem",
    "evaluate",
    "expand_presets",
    "mail_tools_child",
    "message_key",
    "notice_embed",
    "notice_text",
    "oauth_redirect_url",
    "rule_from_record",
    "rule_to_record",
    "shared_oauth_callback",
]
