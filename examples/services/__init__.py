"""Throwaway local services for the demo and for the suite's own tests (one module per service)."""
