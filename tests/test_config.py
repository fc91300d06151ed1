import pytest

from clara.config import ConfigError, load_settings


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.log_level == "INFO"
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
    assert settings.log_level == "DEBUG"
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
