"""Clara's own inbox: mail to her address summarised for an operator, replies sent only
after an operator approves them (docs/mailroom.md).

- ``inbox``: ``MailroomInboxActor``, the IMAP watch; every message recorded once, automated
  mail skipped (``_screen``).
- ``desk``: ``MailroomDeskActor``, summaries and drafts from the model, posts to the
  operator channel, approved replies over SMTP; resumes whatever the store says is unfinished.
- ``admin``: ``MailroomAdmin.run``, behind ``/mailroom approve|reject|edit|pending``.
- ``sink``: where the mailroom speaks (``EmbedMailroomSink``, ``ChatMailroomSink``).
- ``subsystem``: the ``/clara/mailroom`` subtree for run.py.
"""

from ._reading import InboundMail, fetch_inbound, mail_key, one_line, parse_inbound
from ._reply import build_reply, reply_subject
from ._screen import SCREENED_HEADERS, skip_reason
from .admin import OPERATIONS, MailroomAdmin
from .desk import MailroomDeskActor, SendMail
from .inbox import MailroomInboxActor
from .messages import Describe, Wake
from .options import MailroomOptions
from .sink import (
    ChatMailroomSink,
    DraftPost,
    EmbedMailroomSink,
    MailroomNotice,
    MailroomSink,
    NoticeKind,
    draft_embed,
    draft_text,
    notice_text,
)
from .subsystem import MailroomSystem, mailroom_endpoints, mailroom_subsystem

__all__ = [
    "OPERATIONS",
    "SCREENED_HEADERS",
    "ChatMailroomSink",
    "Describe",
    "DraftPost",
    "EmbedMailroomSink",
    "InboundMail",
    "MailroomAdmin",
    "MailroomDeskActor",
    "MailroomInboxActor",
    "MailroomNotice",
    "MailroomOptions",
    "MailroomSink",
    "MailroomSystem",
    "NoticeKind",
    "SendMail",
    "Wake",
    "build_reply",
    "draft_embed",
    "draft_text",
    "fetch_inbound",
    "mail_key",
    "mailroom_endpoints",
    "mailroom_subsystem",
    "notice_text",
    "one_line",
    "parse_inbound",
    "reply_subject",
    "skip_reason",
]
