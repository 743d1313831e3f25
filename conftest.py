"""Root conftest: loads the releasegate plugins for the checks in checks/ and the suite's own tests."""

pytest_plugins = ["releasegate.plugin"]
