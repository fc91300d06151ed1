"""Which mail is not for a reply: automated mail, mailing lists, bounces, no-reply senders.

Pure, so every rule is tested alone. A message skipped here is recorded ``skipped`` with the
reason this module gives, and never reaches the model or the operator: answering a robot
starts mail loops (two auto-responders answering each other), answering a list writes to
everyone on it, and answering a bounce goes nowhere. The signals are the ones RFC 3834
(``Auto-Submitted``), RFC 2369/2919 (``List-*``), RFC 5321 (the null reverse path) and the
common practice of mail software (``Precedence``, ``X-Autoreply``, Microsoft's
``X-Auto-Response-Suppress``) give.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["SCREENED_HEADERS", "skip_reason"]

#: The headers the screen reads (lower case); the reader keeps exactly these.
SCREENED_HEADERS = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "list-post",
    "return-path",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "x-mailer-daemon",
    "content-type",
)

_BULK = frozenset({"bulk", "list", "junk", "auto_reply", "auto-reply"})
#: Local parts of senders that never read replies (with ``+tag`` or ``-suffix`` allowed).
_NO_REPLY = re.compile(
    r"(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|mailer[-_.]?daemon|postmaster|"
    r"bounces?)(?:[-+._].*)?",
    re.IGNORECASE,
)


def _first_word(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def skip_reason(
    headers: Mapping[str, str], sender_address: str, reply_address: str, own_address: str
) -> str | None:
    """Why this message gets no reply, or None when it may get one.

    Args:
        headers: the ``SCREENED_HEADERS`` the message has, by lower-case name.
        sender_address: its From address, lower case.
        reply_address: where a reply would go (Reply-To, else From); empty: nowhere usable.
        own_address: Clara's own address (mail from it would answer itself).
    """
    auto = headers.get("auto-submitted")
    if auto is not None and _first_word(auto) not in ("", "no"):
        return f"automated (Auto-Submitted: {_first_word(auto)[:40]})"
    precedence = headers.get("precedence")
    if precedence is not None and _first_word(precedence) in _BULK:
        return f"bulk mail (Precedence: {_first_word(precedence)})"
    for name in ("list-id", "list-unsubscribe", "list-post"):
        if name in headers:
            return f"mailing list ({name.title()})"
    return_path = headers.get("return-path")
    if return_path is not None and return_path.strip() in ("<>", ""):
        return "a bounce or notice (empty Return-Path)"
    for name in ("x-autoreply", "x-autorespond", "x-mailer-daemon"):
        if name in headers:
            return f"automated ({name.title()})"
    suppress = headers.get("x-auto-response-suppress", "").lower()
    if any(word in suppress for word in ("all", "oof", "autoreply")):
        return "the sender asks for no automatic replies (X-Auto-Response-Suppress)"
    content_type = _first_word(headers.get("content-type", ""))
    report = re.search(r"report-type\s*=\s*\"?([\w-]+)", headers.get("content-type", ""), re.I)
    if content_type == "multipart/report" or report is not None:
        return "a delivery or read report (multipart/report)"
    for role, address in (("sender", sender_address), ("reply address", reply_address)):
        local = address.partition("@")[0]
        if address and _NO_REPLY.fullmatch(local):
            return f"a no-reply {role} ({address[:80]})"
    own = own_address.strip().lower()
    if own and own in (sender_address.lower(), reply_address.lower()):
        return "from Clara's own address (a reply would answer itself)"
    if not reply_address:
        return "no address to reply to"
    return None
