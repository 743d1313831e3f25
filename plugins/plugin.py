"""The releasegate pytest plugin: every module below contributes options, hooks or fixtures."""

pytest_plugins = [
    "plugins.options",
    "plugins.shards",
    "plugins.params",
    "plugins.setup_request",
    "plugins.fixtures",
    "plugins.findings",
    "plugins.lifecycle",
    "plugins.verdict",
    "plugins.outcomes",
    "plugins.report",
    "plugins.subdomains.plugin",
    "plugins.drift.plugin",
    "plugins.replay",
    "plugins.stdout_guard",
    "plugins.annotate",
    "plugins.selection",
    "plugins.scale",
    "plugins.parity_index",
]
