"""Analytics settings are cached like the core ones: start and end every test with a fresh read."""

from collections.abc import Iterator

import pytest

from socialdesk.analytics.settings import get_analytics_settings


@pytest.fixture(autouse=True)
def _fresh_analytics_settings() -> Iterator[None]:
    get_analytics_settings.cache_clear()
    yield
    get_analytics_settings.cache_clear()
