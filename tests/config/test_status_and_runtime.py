import pytest

from clara.config import ConfigError, load_settings


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.logging.level == "INFO"
    assert settings.runtime.dead_letters == 1000
    assert (settings.runtime.root_max_restarts, settings.runtime.root_max_seconds) == (3, 5.0)


def test_values_are_read_and_normalised() -> None:
    settings = load_settings(
        {
            "CLARA_LOG_LEVEL": " debug ",
            "CLARA_DEAD_LETTERS": "50",
            "CLARA_ROOT_MAX_RESTARTS": "0",
            "CLARA_ROOT_MAX_SECONDS": "2.5",
        }
    )
    assert settings.logging.level == "DEBUG"
    assert settings.runtime.dead_letters == 50
    assert settings.runtime.root_max_restarts == 0
    assert settings.runtime.root_max_seconds == 2.5


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CLARA_LOG_LEVEL", "loud", "one of DEBUG, INFO, WARNING, ERROR; got 'loud'"),
        ("CLARA_DEAD_LETTERS", "0", "an integer of at least 1; got '0'"),
        ("CLARA_DEAD_LETTERS", "many", "an integer of at least 1; got 'many'"),
        ("CLARA_ROOT_MAX_RESTARTS", "-1", "an integer of at least 0; got '-1'"),
        ("CLARA_ROOT_MAX_SECONDS", "inf", "a positive number of seconds; got 'inf'"),
        ("CLARA_ROOT_MAX_SECONDS", "0", "a positive number of seconds; got '0'"),
    ],
)
def test_a_bad_value_names_the_variable_the_form_and_the_value(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{name} must be {expected}"):
        load_settings({name: value})


def test_the_status_endpoint_defaults_to_loopback_without_a_token() -> None:
    status = load_settings({}).status
    assert (status.enabled, status.host, status.port, status.token) == (
        True,
        "127.0.0.1",
        8787,
        None,
    )
    assert status.url == "http://127.0.0.1:8787"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "clara.example"])
def test_binding_beyond_loopback_without_a_token_is_refused(host: str) -> None:
    with pytest.raises(
        ConfigError, match=f"CLARA_STATUS_HOST is '{host}', which is not a loopback"
    ):
        load_settings({"CLARA_STATUS_HOST": host})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost"])
def test_loopback_addresses_need_no_token(host: str) -> None:
    assert load_settings({"CLARA_STATUS_HOST": host}).status.host == host


def test_a_token_allows_any_address_and_never_shows() -> None:
    token = "0123456789abcdef-token"
    settings = load_settings({"CLARA_STATUS_HOST": "0.0.0.0", "CLARA_STATUS_TOKEN": token})
    assert settings.status.token is not None
    assert settings.status.token.reveal() == token
    for text in (repr(settings), str(settings.status.token), f"{settings.status.token}"):
        assert token not in text
    assert settings.status.url == "http://127.0.0.1:8787"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CLARA_STATUS_TOKEN": "short"}, "CLARA_STATUS_TOKEN must be at least 16 characters"),
        ({"CLARA_STATUS_PORT": "70000"}, "CLARA_STATUS_PORT must be an integer from 0 to 65535"),
        ({"CLARA_STATUS_PORT": "http"}, "CLARA_STATUS_PORT must be an integer"),
        ({"CLARA_STATUS_ENABLED": "maybe"}, "CLARA_STATUS_ENABLED must be true or false"),
        ({"CLARA_STATUS_HOST": "http://x/"}, "CLARA_STATUS_HOST must be a host name or an IP"),
    ],
)
def test_bad_status_settings_name_the_variable(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        load_settings(env)
    assert "short" not in str(caught.value) or "CLARA_STATUS_TOKEN" not in env


def test_a_disabled_endpoint_needs_none_of_its_settings() -> None:
    settings = load_settings({"CLARA_STATUS_ENABLED": "false", "CLARA_STATUS_HOST": "0.0.0.0"})
    assert not settings.status.enabled
