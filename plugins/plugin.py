"""The releasegate pytest plugin: every module below contributes options, hooks or fixtures."""

pytest_plugins = [
    "releasegate.options",
    "releasegate.shards",
    "releasegate.params",
    "releasegate.setup_request",
    "releasegate.fixtures",
    "releasegate.findings",
    "releasegate.lifecycle",
    "releasegate.verdict",
    "releasegate.outcomes",
    "releasegate.report",
    "releasegate.subdomains.plugin",
    "releasegate.drift.plugin",
    "releasegate.replay",
    "releasegate.stdout_guard",
    "releasegate.annotate",
    "releasegate.selection",
    "releasegate.scale",
    "releasegate.parity_index",
]
