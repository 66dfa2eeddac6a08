"""Settings, read from the environment (prefix ``SOCIALDESK_``) or a ``.env`` file."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOCIALDESK_", env_file=".env", extra="ignore")

    data_dir: Path = Path("var")
    # Empty means the embedded default: a SQLite file under data_dir.
    database_url: str = ""
    # Connections per process (PostgreSQL): budget web + worker processes against max_connections.
    db_pool_size: int = 10
    db_max_overflow: int = 20
    # Empty means the in-process queue; ``redis://...`` selects Redis Streams.
    queue_url: str = ""
    secret_key: str = Field(default="dev-insecure-change-me", min_length=8)
    base_url: str = "http://127.0.0.1:8000"
    # Largest message text we accept; anything larger is a dead letter, not a message.
    max_text_bytes: int = 100_000
    # A customer message on a resolved conversation reopens it within this window.
    reopen_window_hours: int = 72
    triage_tier: str = "fast"
    # Periodic jobs (SLA clocks, outbox, surveys, reports) in the web process; turn off when
    # a separate `socialdesk scheduler` process runs them.
    background_jobs: bool = True
    require_services: bool = False

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'socialdesk.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
