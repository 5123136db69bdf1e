"""Custom tracking hosts: branded click/open tracking served over automatically issued TLS."""
