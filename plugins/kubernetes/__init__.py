"""Kubernetes: the read-only API client and health/drift over live objects."""
