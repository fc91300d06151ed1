"""Masking for what the status endpoint sends: no configured secret, no token shape.

The log filter (``clara.logs.SecretFilter``) already knows every shape (API keys, bearer
and Basic credentials, passwords in URLs, ``token=...``) and every configured secret value;
this module applies its ``mask`` to what a status body can carry from outside Clara's code:
error messages and tracebacks (a provider, or a proxy in front of it, may echo the request
with its key and the person's message), readiness reasons, what actors' ``describe()``
adds, dead letters' errors, and what a request sent. It is the last line of defence: the
adapters clean their errors at the source too.

Masking is done where such text enters a document, on the strings themselves, never on a
JSON body as a whole: a pattern such as ``token: <value>`` could eat JSON punctuation and
break the document. Paths, class names, states and numbers come from the code and are not
masked; masking them would cost a regular expression per node of a 10,000-node tree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from ...actors import ActorStatistics, FailureInfo
from ...logs import SecretFilter
from ...supervisors import SupervisorStatistics

__all__ = ["Masker"]

#: Strings up to this long are remembered with their masked form: the same short texts
#: (a channel's reply mode, a provider's name, a dead letter's error) come back on every poll.
MEMO_TEXT = 512

#: At most this many remembered texts (or failures); the memory is dropped when full.
MEMO_SIZE = 4096

Node = ActorStatistics | SupervisorStatistics


class Masker:
    """Masks configured secret values and token-shaped strings in what the endpoint sends.

    Args:
        secrets: every configured secret value (``Settings.secrets``); values shorter than
            four characters are ignored, as in the log filter.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._mask = SecretFilter(secrets).mask
        self._texts: dict[str, str] = {}
        # By identity: an actor hands back the same FailureInfo until it fails again, and
        # masking a 4,000-character traceback costs about half a millisecond.
        self._failures: dict[int, tuple[FailureInfo, FailureInfo]] = {}

    def text(self, text: str) -> str:
        """``text`` with every secret and token shape replaced by ``****``."""
        masked = self._texts.get(text)
        if masked is not None:
            return masked
        masked = self._mask(text)
        if len(text) <= MEMO_TEXT:
            if len(self._texts) >= MEMO_SIZE:
                self._texts.clear()
            self._texts[text] = masked
        return masked

    def value(self, value: Any) -> Any:
        """A JSON-like value (what ``describe()`` returns) with every string in it masked,
        keys included; Structs are turned into plain data first."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return {
                self.text(key) if isinstance(key, str) else key: self.value(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item) for item in value]
        try:
            plain = msgspec.to_builtins(value)
        except TypeError:  # not JSON-like at all: its text, masked
            return self.text(str(value))
        return self.value(plain)

    def failure(self, failure: FailureInfo) -> FailureInfo:
        """The failure with its message and traceback masked."""
        remembered = self._failures.get(id(failure))
        if remembered is not None and remembered[0] is failure:
            return remembered[1]
        masked = msgspec.structs.replace(
            failure, message=self.text(failure.message), traceback=self.text(failure.traceback)
        )
        if len(self._failures) >= MEMO_SIZE:
            self._failures.clear()
        self._failures[id(failure)] = (failure, masked)
        return masked

    def node(self, node: Node) -> Node:
        """A snapshot with its last failure and details masked (the same object when it has
        neither, which is most of them)."""
        failure = node.last_failure
        details = node.details if isinstance(node, ActorStatistics) else None
        if failure is None and details is None:
            return node
        changes: dict[str, Any] = {}
        if failure is not None:
            changes["last_failure"] = self.failure(failure)
        if details is not None:
            changes["details"] = self.value(details)
        return msgspec.structs.replace(node, **changes)
