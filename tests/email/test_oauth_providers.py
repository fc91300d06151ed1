"""The OAuth mail providers the settings configure: built-in ones only with Clara's client,
the operator's own from CLARA_EMAIL_OAUTH_PROVIDERS, every mistake a one-line error naming
the variable and never a secret."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from clara.actors.email import email_oauth, oauth_redirect_url
from clara.adapters.email import OAuthProvider, oauth_providers
from clara.adapters.mcp import OAuthClient
from clara.config import ConfigError, effective_configuration, load_settings
from clara.store import Database, SecretBox

SECRET = "s3cret-value-0123456789"


def providers(**env: str) -> dict[str, OAuthProvider]:
    return oauth_providers(load_settings(env, data_dir_needed=False).email)


def operator(entry: dict[str, Any], name: str = "corp") -> dict[str, OAuthProvider]:
    return providers(CLARA_EMAIL_OAUTH_PROVIDERS=json.dumps({name: entry}))


GOOD = {
    "title": "Corp Mail",
    "authorization_url": "https://id.corp.example/auth",
    "token_url": "https://id.corp.example/token",
    "scopes": "openid mail",
    "imap_host": "imap.corp.example",
    "client_id": "clara",
    "client_secret": SECRET,
    "authorization_params": {"prompt": "consent"},
}


def test_no_provider_is_offered_without_settings() -> None:
    assert providers() == {}


def test_google_is_offered_with_its_client_and_asks_for_offline_access() -> None:
    found = providers(
        CLARA_EMAIL_GOOGLE_CLIENT_ID="123.apps.googleusercontent.com",
        CLARA_EMAIL_GOOGLE_CLIENT_SECRET=SECRET,
    )
    google = found["google"]
    assert list(found) == ["google"]
    assert google.authorization_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert google.token_url == "https://oauth2.googleapis.com/token"
    assert google.scopes == ("https://mail.google.com/",)
    assert (google.imap_host, google.imap_port, google.imap_tls) == ("imap.gmail.com", 993, True)
    assert dict(google.authorization_params) == {"access_type": "offline", "prompt": "consent"}
    assert google.client_secret is not None and google.client_secret.reveal() == SECRET
    assert SECRET not in repr(google) and SECRET not in str(google)


def test_microsoft_is_offered_with_its_application_and_a_tenant() -> None:
    microsoft = providers(CLARA_EMAIL_MICROSOFT_CLIENT_ID="00000000-aaaa-bbbb")["microsoft"]
    assert microsoft.authorization_url == (
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize"
    )
    assert microsoft.token_url == "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    assert microsoft.scopes == (
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "offline_access",
    )
    assert microsoft.imap_host == "outlook.office365.com" and microsoft.client_secret is None
    tenant = providers(
        CLARA_EMAIL_MICROSOFT_CLIENT_ID="app",
        CLARA_EMAIL_MICROSOFT_TENANT="contoso.onmicrosoft.com",
    )["microsoft"]
    assert "/contoso.onmicrosoft.com/oauth2/v2.0/" in tenant.token_url


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CLARA_EMAIL_GOOGLE_CLIENT_ID": "id"}, "CLARA_EMAIL_GOOGLE_CLIENT_SECRET"),
        ({"CLARA_EMAIL_GOOGLE_CLIENT_SECRET": SECRET}, "CLARA_EMAIL_GOOGLE_CLIENT_ID"),
        ({"CLARA_EMAIL_MICROSOFT_CLIENT_SECRET": SECRET}, "CLARA_EMAIL_MICROSOFT_CLIENT_ID"),
        (
            {"CLARA_EMAIL_MICROSOFT_CLIENT_ID": "app", "CLARA_EMAIL_MICROSOFT_TENANT": "a/b"},
            "CLARA_EMAIL_MICROSOFT_TENANT",
        ),
        (
            {
                "CLARA_EMAIL_GOOGLE_CLIENT_ID": "has a space",
                "CLARA_EMAIL_GOOGLE_CLIENT_SECRET": SECRET,
            },
            "CLARA_EMAIL_GOOGLE_CLIENT_ID",
        ),
    ],
)
def test_a_half_configured_built_in_provider_names_the_missing_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        providers(**env)
    assert named in str(caught.value) and SECRET not in str(caught.value)


def test_an_operators_provider_is_read_from_the_json_setting() -> None:
    corp = operator(GOOD)["corp"]
    assert corp.title == "Corp Mail" and corp.scopes == ("openid", "mail")
    assert (corp.imap_host, corp.imap_port, corp.imap_tls) == ("imap.corp.example", 993, True)
    assert corp.client_secret is not None and corp.client_secret.reveal() == SECRET
    assert dict(corp.authorization_params) == {"prompt": "consent"}
    local = operator(
        {
            **GOOD,
            "authorization_url": "http://127.0.0.1:8080/auth",
            "token_url": "http://localhost:8080/token",
            "imap_host": "127.0.0.1",
            "imap_port": 1143,
            "imap_tls": False,
        }
    )["corp"]
    assert (local.imap_port, local.imap_tls) == (1143, False)  # all on this machine: allowed


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"token_url": "http://id.corp.example/token"}, "token_url must be https"),
        ({"authorization_url": "ftp://x/auth"}, "authorization_url must be an https URL"),
        ({"token_url": "https://user:pw@id.corp.example/t"}, "without a user name or password"),
        ({"imap_tls": False}, "imap_tls may be false only for an IMAP server on this machine"),
        ({"imap_port": 70000}, "imap_port must be an integer from 1 to 65535"),
        ({"imap_host": "imap corp"}, "imap_host is required"),
        ({"client_id": ""}, "client_id is required"),
        ({"client_secret": 42}, "client_secret must be a non-empty string"),
        ({"scopes": [1, 2]}, "scopes must be a list of scope names"),
        ({"authorization_params": {"state": "x"}}, "none of the flow's own"),
        ({"colour": "blue"}, "unknown fields colour"),
    ],
)
def test_a_wrong_field_names_the_variable_the_provider_and_the_field(
    change: dict[str, Any], said: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        operator({**GOOD, **change})
    message = str(caught.value)
    assert message.startswith("CLARA_EMAIL_OAUTH_PROVIDERS: provider corp: "), message
    assert said in message and SECRET not in message and "\n" not in message


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ('{"corp": {"client_secret": "' + SECRET + '"', "is not valid JSON (line 1 column"),
        (json.dumps([GOOD]), "must be a JSON object of providers by name"),
        (json.dumps({"Corp Mail": GOOD}), "a provider's name must be"),
        (json.dumps({"google": GOOD}), "google is a built-in provider"),
        (json.dumps({"corp": "https://id.corp.example"}), "must be a JSON object of its fields"),
        ("[" * 3000, "must be a JSON object"),
    ],
)
def test_a_malformed_document_names_the_variable_and_never_shows_its_text(
    raw: str, said: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        providers(CLARA_EMAIL_OAUTH_PROVIDERS=raw)
    message = str(caught.value)
    assert "CLARA_EMAIL_OAUTH_PROVIDERS" in message and said in message, message
    assert SECRET not in message and len(message) < 400


def test_client_secrets_are_masked_everywhere_settings_are_shown() -> None:
    settings = load_settings(
        {
            "CLARA_EMAIL_OAUTH_PROVIDERS": json.dumps({"corp": GOOD}),
            "CLARA_EMAIL_GOOGLE_CLIENT_ID": "id.apps.googleusercontent.com",
            "CLARA_EMAIL_GOOGLE_CLIENT_SECRET": "google-secret-value",
        },
        data_dir_needed=False,
    )
    # The log filter's list holds each client secret alone, not only inside its JSON.
    assert SECRET in settings.secrets and "google-secret-value" in settings.secrets
    shown = effective_configuration(settings, {})
    assert SECRET not in shown and "google-secret-value" not in shown
    assert "id.apps.googleusercontent.com" in shown
    assert SECRET not in repr(settings.email)


@pytest.mark.trio
async def test_the_sign_in_is_built_from_the_settings_and_needs_a_redirect(
    database: Database, box: SecretBox
) -> None:
    async def on_connected(account_id: int) -> None:
        pass

    env = {"CLARA_EMAIL_OAUTH_PROVIDERS": json.dumps({"corp": GOOD})}
    async with httpx.AsyncClient() as http:
        oauth = OAuthClient(http)
        settings = load_settings(env, data_dir_needed=False)
        built = email_oauth(
            settings, database=database, secrets=box, oauth=oauth, on_connected=on_connected
        )
        assert built.providers() == ["corp"]
        assert built.redirect_url == "http://127.0.0.1:8787/oauth/callback"  # the status port
        elsewhere = load_settings(
            {**env, "CLARA_MCP_OAUTH_REDIRECT_URL": "https://clara.example/oauth/callback"},
            data_dir_needed=False,
        )
        assert oauth_redirect_url(elsewhere) == "https://clara.example/oauth/callback"
        nowhere = load_settings({**env, "CLARA_STATUS_ENABLED": "false"}, data_dir_needed=False)
        with pytest.raises(ConfigError, match="CLARA_MCP_OAUTH_REDIRECT_URL"):
            email_oauth(
                nowhere, database=database, secrets=box, oauth=oauth, on_connected=on_connected
            )
        unconfigured = email_oauth(
            load_settings({"CLARA_STATUS_ENABLED": "false"}, data_dir_needed=False),
            database=database,
            secrets=box,
            oauth=oauth,
            on_connected=on_connected,
        )
        assert unconfigured.providers() == []
