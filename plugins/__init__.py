"""releasegate: pytest plugins that turn an estate description into release checks."""

__version__ = "0.1.0"
