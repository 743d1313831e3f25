"""The schema snapshot against live databases: snapshot, live catalog, comparison, connection."""
