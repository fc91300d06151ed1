"""Shared test set-up: trio tests are marked ``@pytest.mark.trio`` (trio_mode stays off)."""
