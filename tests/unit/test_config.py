"""Settings come from the environment, parse once, and fail loudly on bad values."""

from __future__ import annotations

import stat

import pytest

from app.config import ConfigError, load_settings


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """A minimal environment: only the instance folder, so nothing leaks from the real one."""
    return {"INSTANCE_PATH": str(tmp_path / "instance")}


def test_defaults_run_a_laptop_portal(env, tmp_path):
    settings = load_settings(env)
    instance = (tmp_path / "instance").resolve()
    assert settings.environment == "development"
    assert settings.instance_path == instance
    assert settings.database_url == f"sqlite:///{instance / 'penguinmails.sqlite3'}"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.session_cookie_secure is False
    assert settings.login_max_failures == 5
    assert settings.login_lockout_seconds == 900
    assert settings.invitation_ttl_hours == 168
    assert settings.smtp_url == ""
    assert settings.outbox_dir == instance / "outbox"
    assert settings.public_url == "http://127.0.0.1:5000"
    assert settings.trusted_proxies == 0
    assert settings.job_retry_intervals == (10, 60, 300)


def test_instance_path_argument_is_used_when_the_environment_names_none(tmp_path):
    settings = load_settings({}, instance_path=tmp_path / "elsewhere")
    assert settings.instance_path == (tmp_path / "elsewhere").resolve()


def test_flask_config_carries_the_parsed_values(env):
    config = load_settings({**env, "JOB_RETRY_INTERVALS": "5,15", "SECRET_KEY": "s3cret"}
                           ).as_flask_config()
    assert config["SECRET_KEY"] == "s3cret"
    assert config["JOB_RETRY_INTERVALS"] == [5, 15]
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["OPENAPI_URL_PREFIX"] == "/api/v1"


@pytest.mark.parametrize("raw", ["postgres://u:p@db:5432/pm", "postgresql://u:p@db:5432/pm"])
def test_postgres_urls_use_the_psycopg3_driver(env, raw):
    settings = load_settings({**env, "DATABASE_URL": raw})
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/pm"


def test_an_explicit_driver_and_sqlite_urls_are_kept_as_given(env):
    for url in ("postgresql+psycopg://u@db/pm", "sqlite:////var/lib/pm.sqlite3"):
        assert load_settings({**env, "DATABASE_URL": url}).database_url == url


def test_trailing_slash_is_dropped_from_public_url(env):
    settings = load_settings({**env, "PUBLIC_URL": "https://portal.example.com/"})
    assert settings.public_url == "https://portal.example.com"


@pytest.mark.parametrize("name", ["LOGIN_MAX_FAILURES", "LOGIN_LOCKOUT_SECONDS",
                                  "INVITATION_TTL_HOURS", "TRUSTED_PROXIES"])
def test_a_non_numeric_count_is_refused_naming_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        load_settings({**env, name: "lots"})


@pytest.mark.parametrize("name", ["LOGIN_MAX_FAILURES", "LOGIN_LOCKOUT_SECONDS",
                                  "INVITATION_TTL_HOURS"])
def test_a_zero_limit_is_refused_naming_the_variable(env, name):
    with pytest.raises(ConfigError, match=f"{name} must be at least 1"):
        load_settings({**env, name: "0"})


def test_an_empty_value_means_the_default(env):
    assert load_settings({**env, "LOGIN_MAX_FAILURES": ""}).login_max_failures == 5


@pytest.mark.parametrize("raw,expected", [("1", True), ("true", True), ("Yes", True),
                                          (" on ", True), ("0", False), ("false", False),
                                          ("NO", False), ("off", False)])
def test_booleans_accept_the_usual_spellings(env, raw, expected):
    assert load_settings({**env, "SESSION_COOKIE_SECURE": raw}).session_cookie_secure is expected


def test_a_malformed_boolean_is_refused_naming_the_variable(env):
    with pytest.raises(ConfigError, match="SESSION_COOKIE_SECURE must be true or false"):
        load_settings({**env, "SESSION_COOKIE_SECURE": "maybe"})


def test_retry_intervals_are_comma_separated_seconds(env):
    assert load_settings({**env, "JOB_RETRY_INTERVALS": "1, 2,3"}).job_retry_intervals == (1, 2, 3)


def test_empty_retry_intervals_mean_no_retries(env):
    assert load_settings({**env, "JOB_RETRY_INTERVALS": ""}).job_retry_intervals == ()


@pytest.mark.parametrize("raw", ["10,soon", "1.5", "-5", "10,-1"])
def test_malformed_retry_intervals_are_refused_naming_the_variable(env, raw):
    with pytest.raises(ConfigError, match="JOB_RETRY_INTERVALS"):
        load_settings({**env, "JOB_RETRY_INTERVALS": raw})


def test_an_unknown_environment_name_is_refused_naming_the_variable(env):
    with pytest.raises(ConfigError, match="PENGUINMAILS_ENV"):
        load_settings({**env, "PENGUINMAILS_ENV": "staging"})


def test_production_without_a_secret_key_refuses_to_start(env, tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        load_settings({**env, "PENGUINMAILS_ENV": "production"})
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_production_uses_the_given_secret_and_secure_cookies(env):
    settings = load_settings({**env, "PENGUINMAILS_ENV": "production", "SECRET_KEY": "k" * 64})
    assert settings.secret_key == "k" * 64
    assert settings.session_cookie_secure is True


def test_development_generates_a_private_secret_key_once(env, tmp_path):
    first = load_settings(env).secret_key
    key_file = tmp_path / "instance" / "secret_key"
    assert len(first) == 64
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_settings(env).secret_key == first


def test_a_secret_key_from_the_environment_writes_no_file(env, tmp_path):
    assert load_settings({**env, "SECRET_KEY": "from-env"}).secret_key == "from-env"
    assert not (tmp_path / "instance" / "secret_key").exists()


@pytest.mark.parametrize("url", ["smtp://relay.example.com:587?starttls=1",
                                 "smtps://user:pass@relay.example.com:465", "smtp://127.0.0.1"])
def test_smtp_relay_urls_are_accepted(env, url):
    assert load_settings({**env, "SMTP_URL": url}).smtp_url == url


@pytest.mark.parametrize("url", ["relay.example.com:587", "http://relay.example.com",
                                 "smtp://", "smtp://user:hunter2@relay:notaport"])
def test_a_malformed_smtp_url_stops_start_up_without_echoing_it(env, url):
    with pytest.raises(ConfigError, match="SMTP_URL") as error:
        load_settings({**env, "SMTP_URL": url})
    assert "hunter2" not in str(error.value)
