"""Token refresh: retried once on a clock-skew rejection (hotfix 1.4.1)."""

MAX_REFRESH_ATTEMPTS = 2
