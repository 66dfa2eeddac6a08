"""Analytics settings, read from the environment like the core ones (prefix ``SOCIALDESK_``)."""

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class AnalyticsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOCIALDESK_", env_file=".env", extra="ignore")

    # A customer gets at most one CSAT survey in this many days.
    csat_period_days: int = 30
    # Survey links (and replies to a survey) are accepted for this many days.
    csat_answer_days: int = 7
    # Only conversations resolved this recently get a survey when the dispatcher scans.
    csat_lookback_hours: int = 48
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "socialdesk@localhost"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False


@lru_cache
def get_analytics_settings() -> AnalyticsSettings:
    return AnalyticsSettings()
