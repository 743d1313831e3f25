"""The queues the workers consume and the broker rules they share with the scheduler."""
from __future__ import annotations

QUEUES = ["default", "reports", "emails"]


def check_broker(url: str) -> str:
    """The queue broker must not share Redis database 0 with the API's cache."""
    if url.rstrip("/").endswith("/0"):
        raise ValueError("the queue broker must not share redis database 0 with the cache")
    return url
