"""Monitoring: the DNS validator that judges a domain's live records, and its CLI."""
