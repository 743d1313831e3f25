"""Subdomains: the HTTPS client and the probes."""
