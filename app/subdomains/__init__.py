"""Subdomains: sending identities under a domain, each with its own keys and reputation."""
