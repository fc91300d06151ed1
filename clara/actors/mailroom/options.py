"""How the mailroom's actors behave: timings, limits, the model tier."""

from __future__ import annotations

from dataclasses import dataclass

from ...adapters.llm import Tier

__all__ = ["MailroomOptions"]


@dataclass(frozen=True, slots=True)
class MailroomOptions:
    """Every field has the default run.py uses unless the settings say otherwise.

    Attributes:
        timeout: seconds to connect, and for each IMAP command or SMTP exchange (30).
        poll_seconds: between checks of an IMAP server without IDLE (300).
        idle_renew: seconds one IDLE lasts before it is renewed (600, well inside RFC
            2177's 29 minutes).
        login_retry: seconds between logins after the IMAP server refused the password
            (3600): a wrong password is an error in the status, not a crash loop.
        retry_min: the first wait after a failed send, model call or post (30); doubled
            after each failure of the same kind, up to ``retry_max`` (3600).
        max_send_attempts: attempts at sending one approved reply before it is ``failed``
            (8); an operator approving it again starts over.
        max_summary_attempts: model calls for one message before it is posted without a
            draft (5), so a model that keeps failing never hides a mail from the operator.
        tier: the model tier of summaries and drafts (mid).
        llm_timeout: seconds one summary may take, failover included (120).
        max_fetch_bytes: how much of one message is fetched (64 KB).
        max_text_chars: how much of its text the model is shown (6,000).
    """

    timeout: float = 30.0
    poll_seconds: float = 300.0
    idle_renew: float = 600.0
    login_retry: float = 3600.0
    retry_min: float = 30.0
    retry_max: float = 3600.0
    max_send_attempts: int = 8
    max_summary_attempts: int = 5
    tier: Tier = Tier.MID
    llm_timeout: float = 120.0
    max_fetch_bytes: int = 65_536
    max_text_chars: int = 6_000

    def __post_init__(self) -> None:
        for name in (
            "timeout",
            "poll_seconds",
            "idle_renew",
            "login_retry",
            "retry_min",
            "retry_max",
            "llm_timeout",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"MailroomOptions.{name} must be a positive number; got {value!r}")
        for name in ("max_send_attempts", "max_summary_attempts", "max_fetch_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MailroomOptions.{name} must be an int >= 1; got {value!r}")
        if self.max_text_chars < 100:
            raise ValueError(
                f"MailroomOptions.max_text_chars must be at least 100; got {self.max_text_chars!r}"
            )
        if self.retry_max < self.retry_min:
            raise ValueError(
                f"MailroomOptions.retry_max ({self.retry_max}) must be >= retry_min "
                f"({self.retry_min})"
            )
        if not isinstance(self.tier, Tier):
            raise ValueError(f"MailroomOptions.tier must be a Tier; got {self.tier!r}")

    def backoff(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row (1: ``retry_min``), capped."""
        doublings = min(max(0, failures - 1), 60)  # past 60 the cap has long been reached
        return float(min(self.retry_max, self.retry_min * 2.0**doublings))
