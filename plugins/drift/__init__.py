"""The nightly drift report: the document, its page, and the pytest plugin that writes them."""
