"""Settings read from environment variables, with defaults that run on a laptop.

Every value is parsed here once; a malformed value stops the app at start-up with a
message naming the variable, instead of failing later in a request.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse


PLATFORM_DEFAULTS = {
    "PLATFORM_SPF_INCLUDE": "_spf.penguinmails.net",
    "PLATFORM_BOUNCE_HOST": "bounces.penguinmails.net",
    "PLATFORM_TRACKING_HOST": "track.penguinmails.net",
    "PLATFORM_DMARC_RUA": "dmarc-reports@penguinmails.net",
}


class ConfigError(RuntimeError):
    """A configuration value is missing or malformed."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0 seconds, got {raw!r}")
    return value


def _csv(env: dict[str, str], name: str, default: str) -> tuple[str, ...]:
    """Comma-separated values, blanks dropped; an unset variable takes `default`."""
    raw = env.get(name)
    return tuple(part.strip() for part in (default if raw is None else raw).split(",")
                 if part.strip())


def _ip_list(env: dict[str, str], name: str) -> tuple[str, ...]:
    addresses = []
    for part in _csv(env, name, ""):
        try:
            addresses.append(str(ipaddress.ip_address(part)))
        except ValueError:
            raise ConfigError(f"{name} must be comma-separated IP addresses, got {part!r}") from None
    return tuple(addresses)


def _nameservers(env: dict[str, str]) -> str:
    """`DNS_NAMESERVERS` is checked here so a typo stops start-up, not the first DNS check."""
    from app.adapters.dns import parse_nameservers

    raw = env.get("DNS_NAMESERVERS", "")
    try:
        parse_nameservers(raw)
    except ValueError as exc:
        raise ConfigError(f"DNS_NAMESERVERS: {exc}") from None
    return raw


def _database_url(raw: str) -> str:
    # Heroku-style URLs and bare postgresql:// both mean the psycopg 3 driver here.
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def _smtp_url(raw: str) -> str:
    """Checked here so a typo stops start-up instead of failing every mail job later."""
    if not raw:
        return raw
    url = urlparse(raw)
    if url.scheme not in {"smtp", "smtps"} or not url.hostname:
        # Never echo the value: it may carry the relay's password.
        raise ConfigError("SMTP_URL must look like smtp://user:pass@host:587?starttls=1 or "
                          f"smtps://host:465 (got scheme {url.scheme!r}, host {url.hostname!r})")
    try:
        url.port
    except ValueError:
        raise ConfigError("SMTP_URL has a port that is not a number") from None
    return raw


def _secret_key(env: dict[str, str], instance_path: Path, environment: str) -> str:
    """A secret from the environment; in dev/test one generated once under instance/."""
    if env.get("SECRET_KEY"):
        return env["SECRET_KEY"]
    if environment == "production":
        raise ConfigError("SECRET_KEY must be set when PENGUINMAILS_ENV=production")
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        # Created private and exclusively: never readable by others, even for a moment, and
        # a second process starting at the same time keeps the first one's key.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return key_file.read_text().strip()


@dataclass(frozen=True)
class Settings:
    """The parsed settings; `as_flask_config()` feeds them to `app.config`."""

    environment: str
    instance_path: Path
    secret_key: str
    database_url: str
    redis_url: str
    session_cookie_secure: bool
    login_max_failures: int
    login_lockout_seconds: int
    invitation_ttl_hours: int
    smtp_url: str
    mail_from: str
    outbox_dir: Path
    public_url: str
    trusted_proxies: int
    keystore_master_key: str
    vault: dict[str, str]
    dns_nameservers: str
    dns_timeout: float
    dns_lifetime: float
    platform: dict[str, str]
    verification_window_hours: int
    dkim_retiring_days: int
    job_retry_intervals: tuple[int, ...] = field(default=(10, 60, 300))
    monitoring: dict[str, object] = field(default_factory=dict)
    tracking: dict[str, object] = field(default_factory=dict)

    def as_flask_config(self) -> dict[str, object]:
        return {
            "ENV_NAME": self.environment,
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
            "REDIS_URL": self.redis_url,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.session_cookie_secure,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_SECURE": self.session_cookie_secure,
            "WTF_CSRF_TIME_LIMIT": None,
            "LOGIN_MAX_FAILURES": self.login_max_failures,
            "LOGIN_LOCKOUT_SECONDS": self.login_lockout_seconds,
            "INVITATION_TTL_HOURS": self.invitation_ttl_hours,
            "SMTP_URL": self.smtp_url,
            "MAIL_FROM": self.mail_from,
            "OUTBOX_DIR": str(self.outbox_dir),
            "PUBLIC_URL": self.public_url,
            "TRUSTED_PROXIES": self.trusted_proxies,
            "INSTANCE_PATH": str(self.instance_path),
            "KEYSTORE_MASTER_KEY": self.keystore_master_key,
            **self.vault,
            "DNS_NAMESERVERS": self.dns_nameservers,
            "DNS_TIMEOUT": self.dns_timeout,
            "DNS_LIFETIME": self.dns_lifetime,
            **self.platform,
            "VERIFICATION_WINDOW_HOURS": self.verification_window_hours,
            "DKIM_RETIRING_DAYS": self.dkim_retiring_days,
            "JOB_RETRY_INTERVALS": list(self.job_retry_intervals),
            **self.monitoring,
            **self.tracking,
            "API_TITLE": "PenguinMails Domains API",
            "API_VERSION": "v1",
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/api/v1",
            "OPENAPI_JSON_PATH": "openapi.json",
        }


def load_settings(env: dict[str, str] | None = None, instance_path: Path | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    environment = env.get("PENGUINMAILS_ENV", "development")
    if environment not in {"development", "test", "production"}:
        raise ConfigError(
            f"PENGUINMAILS_ENV must be development, test or production, got {environment!r}"
        )
    instance = Path(env.get("INSTANCE_PATH") or instance_path or Path.cwd() / "instance").resolve()
    default_db = f"sqlite:///{instance / 'penguinmails.sqlite3'}"
    retry = env.get("JOB_RETRY_INTERVALS", "10,60,300")
    try:
        retry_intervals = tuple(int(part) for part in retry.split(",") if part.strip())
    except ValueError:
        retry_intervals = None
    if retry_intervals is None or any(seconds < 0 for seconds in retry_intervals):
        # RQ refuses negative intervals only when a job is enqueued, i.e. after a commit.
        raise ConfigError(
            f"JOB_RETRY_INTERVALS must be comma-separated seconds (0 or more), got {retry!r}"
        )
    return Settings(
        environment=environment,
        instance_path=instance,
        secret_key=_secret_key(env, instance, environment),
        database_url=_database_url(env.get("DATABASE_URL") or default_db),
        redis_url=env.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        session_cookie_secure=_bool(env, "SESSION_COOKIE_SECURE", environment == "production"),
        login_max_failures=_int(env, "LOGIN_MAX_FAILURES", 5, minimum=1),
        login_lockout_seconds=_int(env, "LOGIN_LOCKOUT_SECONDS", 900, minimum=1),
        invitation_ttl_hours=_int(env, "INVITATION_TTL_HOURS", 168, minimum=1),
        smtp_url=_smtp_url(env.get("SMTP_URL", "")),
        mail_from=env.get("MAIL_FROM", "PenguinMails <no-reply@penguinmails.localhost>"),
        outbox_dir=Path(env.get("OUTBOX_DIR") or instance / "outbox"),
        public_url=env.get("PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/"),
        # How many reverse proxies sit in front; their X-Forwarded-For/-Proto are trusted.
        trusted_proxies=_int(env, "TRUSTED_PROXIES", 0),
        keystore_master_key=env.get("KEYSTORE_MASTER_KEY", ""),
        vault={name: env.get(name, "") for name in
               ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_MODE", "VAULT_MOUNT", "VAULT_TRANSIT_KEY")},
        dns_nameservers=_nameservers(env),
        dns_timeout=_seconds(env, "DNS_TIMEOUT", 3.0),
        dns_lifetime=_seconds(env, "DNS_LIFETIME", 8.0),
        # The platform's own names that customers' records point at.
        platform={name: env.get(name) or default for name, default in PLATFORM_DEFAULTS.items()},
        verification_window_hours=_int(env, "VERIFICATION_WINDOW_HOURS", 72, minimum=1),
        dkim_retiring_days=_int(env, "DKIM_RETIRING_DAYS", 7, minimum=0),
        job_retry_intervals=retry_intervals,
        monitoring=_monitoring_settings(env),
        tracking=_tracking_settings(env),
    )


def _retry_list(env: dict[str, str], name: str, default: str) -> list[int]:
    values = _csv(env, name, default)
    if not all(value.isdigit() for value in values):
        raise ConfigError(f"{name} must be comma-separated whole seconds, got {env.get(name)!r}")
    return [int(value) for value in values]


def _monitoring_settings(env: dict[str, str]) -> dict[str, object]:
    """The DNS health monitor: what the validator expects, how often sweeps run, alerting."""
    return {
        # Our outbound MTAs' addresses: SPF must pass for them, IP blacklists are asked for them.
        "PLATFORM_SENDING_IPS": list(_ip_list(env, "PLATFORM_SENDING_IPS")),
        # DNSBL zones: domain lists are asked for each customer domain, IP lists for our IPs.
        "DNSBL_DOMAIN_LISTS": list(_csv(env, "DNSBL_DOMAIN_LISTS", "dbl.spamhaus.org")),
        "DNSBL_IP_LISTS": list(_csv(env, "DNSBL_IP_LISTS",
                                    "zen.spamhaus.org,bl.spamcop.net,b.barracudacentral.org")),
        "HEALTH_SWEEP_MINUTES": _int(env, "HEALTH_SWEEP_MINUTES", 15, minimum=1),
        "HEALTH_SWEEP_CONCURRENCY": _int(env, "HEALTH_SWEEP_CONCURRENCY", 100, minimum=1),
        # Webhooks to private/loopback addresses are refused (SSRF) unless the platform allows.
        "WEBHOOK_ALLOW_PRIVATE": _bool(env, "WEBHOOK_ALLOW_PRIVATE", False),
        "WEBHOOK_TIMEOUT": _seconds(env, "WEBHOOK_TIMEOUT", 10.0),
        "ALERT_RETRY_INTERVALS": _retry_list(env, "ALERT_RETRY_INTERVALS", "30,120,600,3600"),
    }


def _tracking_settings(env: dict[str, str]) -> dict[str, object]:
    """Custom tracking hosts and their certificates (any RFC 8555 CA)."""
    return {
        "ACME_DIRECTORY_URL": env.get(
            "ACME_DIRECTORY_URL", "https://acme-staging-v02.api.letsencrypt.org/directory"),
        "ACME_CONTACT_EMAIL": env.get("ACME_CONTACT_EMAIL", ""),
        # A CA bundle to trust the ACME server's own TLS with (pebble's test CA); "" = system.
        "ACME_CA_BUNDLE": env.get("ACME_CA_BUNDLE", ""),
        # CAA issuer names of our CA: a CAA record that lists none of them forbids issuance.
        "ACME_CAA_IDENTITIES": list(_csv(env, "ACME_CAA_IDENTITIES", "letsencrypt.org")),
        "TRACKING_RENEW_DAYS": _int(env, "TRACKING_RENEW_DAYS", 30, minimum=1),
        "TRACKING_ALERT_DAYS": _int(env, "TRACKING_ALERT_DAYS", 14, minimum=1),
        # One order's deadline for the CA to validate the challenge and issue.
        "ACME_ORDER_SECONDS": _int(env, "ACME_ORDER_SECONDS", 90, minimum=5),
        "ACME_RETRY_INTERVALS": _retry_list(env, "ACME_RETRY_INTERVALS", "300,1800,7200,21600"),
    }
