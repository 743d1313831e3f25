"""The workers' settings: still on pydantic v1 (BaseSettings is pydantic's own there), reading the
queue rules from the workers' own package."""
from typing import List, Literal

from pydantic import BaseSettings, validator

from workers.jobs.queues import QUEUES, check_broker


class QueueSettings(BaseSettings):
    """Built by the queue workers (worker, worker-cpu)."""

    redis_url: str
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    queues: List[str] = QUEUES

    _broker = validator("redis_url", allow_reuse=True)(check_broker)


class SchedulerSettings(BaseSettings):
    """Built by the scheduler CronJob only."""

    scheduler_timezone: str
    redis_url: str
