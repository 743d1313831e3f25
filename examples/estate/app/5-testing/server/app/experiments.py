"""Work in progress: ranking experiment, not ready for main."""

RANKING_VARIANT = "b"
