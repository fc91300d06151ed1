"""The mailroom's settings: off by default; once on, every missing or unsafe setting is an
error naming its variable; the passwords never show."""

from __future__ import annotations

import pytest

from clara.actors.mailroom import mailroom_endpoints
from clara.config import ConfigError, load_settings

ON = {
    "CLARA_MAILROOM_ENABLED": "true",
    "CLARA_MAILROOM_ADDRESS": "clara@example.org",
    "CLARA_MAILROOM_OPERATOR_CHANNEL": "1234",
    "CLARA_MAILROOM_IMAP_HOST": "imap.example.org",
    "CLARA_MAILROOM_IMAP_PASSWORD": "imap-pass-0123",
    "CLARA_MAILROOM_SMTP_HOST": "smtp.example.org",
}


def test_the_mailroom_is_off_by_default_and_needs_nothing_then() -> None:
    settings = load_settings({}, data_dir_needed=False)
    assert not settings.mailroom.enabled
    with pytest.raises(ValueError, match="CLARA_MAILROOM_ENABLED"):
        mailroom_endpoints(settings)


@pytest.mark.parametrize(
    "missing",
    [
        "CLARA_MAILROOM_ADDRESS",
        "CLARA_MAILROOM_OPERATOR_CHANNEL",
        "CLARA_MAILROOM_IMAP_HOST",
        "CLARA_MAILROOM_IMAP_PASSWORD",
        "CLARA_MAILROOM_SMTP_HOST",
    ],
)
def test_once_on_each_needed_setting_is_named_when_missing(missing: str) -> None:
    env = {name: value for name, value in ON.items() if name != missing}
    with pytest.raises(ConfigError, match=f"so {missing} .* is required; it is not set"):
        load_settings(env, data_dir_needed=False)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"CLARA_MAILROOM_ADDRESS": "not an address"}, "CLARA_MAILROOM_ADDRESS must be an email"),
        ({"CLARA_MAILROOM_ADDRESS": "a@b.org, c@d.org"}, "CLARA_MAILROOM_ADDRESS must be an email"),
        ({"CLARA_MAILROOM_IMAP_TLS": "false"}, "CLARA_MAILROOM_IMAP_TLS is false"),
        ({"CLARA_MAILROOM_SMTP_SECURITY": "plain"}, "CLARA_MAILROOM_SMTP_SECURITY is plain"),
        (
            {"CLARA_MAILROOM_RETRY_SECONDS": "600", "CLARA_MAILROOM_RETRY_MAX_SECONDS": "60"},
            r"CLARA_MAILROOM_RETRY_MAX_SECONDS \(60\) must be at least",
        ),
        ({"CLARA_MAILROOM_SMTP_SECURITY": "tls"}, "must be one of starttls, ssl, plain"),
        ({"CLARA_MAILROOM_IMAP_PASSWORD": "short"}, "CLARA_MAILROOM_IMAP_PASSWORD must be"),
    ],
)
def test_an_unsafe_or_malformed_setting_is_refused_by_name(
    changes: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named) as caught:
        load_settings({**ON, **changes}, data_dir_needed=False)
    assert "imap-pass-0123" not in str(caught.value)


def test_plain_smtp_is_allowed_on_loopback_or_without_a_login() -> None:
    local = load_settings(
        {**ON, "CLARA_MAILROOM_SMTP_SECURITY": "plain", "CLARA_MAILROOM_SMTP_HOST": "127.0.0.1"},
        data_dir_needed=False,
    )
    assert local.mailroom.smtp_security == "plain"
    relay = load_settings(
        {**ON, "CLARA_MAILROOM_SMTP_SECURITY": "plain", "CLARA_MAILROOM_SMTP_AUTH": "false"},
        data_dir_needed=False,
    )
    _, smtp = mailroom_endpoints(relay)
    assert smtp.username == "" and smtp.password == ""


def test_logins_default_to_the_address_and_the_passwords_never_show() -> None:
    settings = load_settings(
        {**ON, "CLARA_MAILROOM_SMTP_PASSWORD": "smtp-pass-4567"}, data_dir_needed=False
    )
    imap, smtp = mailroom_endpoints(settings)
    assert imap.username == smtp.username == "clara@example.org"
    assert imap.use_tls and smtp.security == "starttls" and smtp.port == 587
    assert (imap.password, smtp.password) == ("imap-pass-0123", "smtp-pass-4567")
    shown = f"{imap!r} {smtp!r} {imap} {smtp} {settings.mailroom!r}"
    assert "imap-pass-0123" not in shown and "smtp-pass-4567" not in shown
    assert {"imap-pass-0123", "smtp-pass-4567"} <= set(settings.secrets)  # masked in logs
    same = load_settings(ON, data_dir_needed=False)
    assert mailroom_endpoints(same)[1].password == "imap-pass-0123"
