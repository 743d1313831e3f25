"""The nightly drift report: the document (document), drift.md (markdown), drift.html (page), and
the pytest plugin that writes them (plugin)."""
