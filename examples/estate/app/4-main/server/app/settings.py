"""Settings of the demo server, read from the environment at boot (pydantic-settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DATABASE_")

    url: str
    pool_size: int = 10

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("DATABASE_URL must start with postgresql+asyncpg:// or sqlite+aiosqlite://")
        return value


class RedisSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REDIS_")

    url: str = "redis://localhost:6379/0"


class AuthSettings(BaseSettings):
    jwt_secret: str = Field(validation_alias=AliasChoices("JWT_SECRET", "AUTH_JWT_SECRET"))
    token_ttl_s: int = Field(default=3600, alias="AUTH_TOKEN_TTL")


class MailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMTP_")

    host: str = "localhost"
    password: str
    sendgrid_region: str = Field(default="eu", alias="SENDGRID_REGION")


class FeatureFlags(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FEATURE_FLAGS__")

    agent_loops: bool = False
    new_dashboard: bool = False


class SearchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEARCH_")

    url: str
    timeout_s: float = 5.0


class AgentLimits(BaseModel):
    max_steps: int = 20
    timeout_s: float = 30.0


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENT_", env_nested_delimiter="__")

    # The experimental agent model is retired on main.
    model: Literal["small", "large"] = "small"
    limits: AgentLimits = AgentLimits()


class ErrorReportingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENTRY_")

    dsn: str | None = None
    environment: str | None = None

    @model_validator(mode="after")
    def _dsn_when_environment(self) -> "ErrorReportingSettings":
        if self.environment and not self.dsn:
            raise ValueError("SENTRY_DSN must be set when SENTRY_ENVIRONMENT is configured")
        return self


class AppSettings(BaseSettings):
    environment: Literal["testing", "staging", "production"] = Field(alias="ENVIRONMENT")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    # The audit log is always on since 1.5: ENABLE_AUDIT_LOG is no longer read.


def get_settings() -> dict[str, BaseSettings]:
    """Build every settings section, as the server does at start."""
    return {
        "app": AppSettings(),
        "database": DatabaseSettings(),
        "redis": RedisSettings(),
        "auth": AuthSettings(),
        "mail": MailSettings(),
        "features": FeatureFlags(),
        "agent": AgentSettings(),
        "errors": ErrorReportingSettings(),
        "search": SearchSettings(),
    }
