"""An example releasegate plugin pack."""
