"""Small interfaces over the outside world (DNS, key store, SMTP, ACME, HTTP)."""
