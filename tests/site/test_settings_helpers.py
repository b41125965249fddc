import pytest
from django.core.exceptions import ImproperlyConfigured

from vibeflow_site.env import envbool, envint, envlist, redis_url_for


@pytest.mark.parametrize(
    "base, db, celery, expected",
    [
        ("redis://127.0.0.1:6379", 2, False, "redis://127.0.0.1:6379/2"),
        ("redis://127.0.0.1:6379/0", 3, True, "redis://127.0.0.1:6379/3"),
        (
            "rediss://:pw@cache:6380/9?ssl_cert_reqs=none",
            1,
            False,
            "rediss://:pw@cache:6380/1?ssl_cert_reqs=none",
        ),
        ("unix:///var/run/redis.sock", 1, False, "unix:///var/run/redis.sock?db=1"),
        (
            "unix:///var/run/redis.sock?db=7",
            0,
            True,
            "redis+socket:///var/run/redis.sock?virtual_host=0",
        ),
    ],
)
def test_it_derives_one_database_per_role(base, db, celery, expected):
    assert redis_url_for(base, db, for_celery=celery) == expected


def test_it_refuses_an_unknown_redis_scheme():
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        redis_url_for("memcached://x", 0)


def test_env_helpers_fail_loudly(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        envbool("X_BOOL", False)
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        envint("X_INT", 1)


def test_env_helpers_read_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a.com, b.com,,")
    assert envbool("X_BOOL", False) is True
    assert envint("X_INT", 1) == 42
    assert envlist("X_LIST", []) == ["a.com", "b.com"]
    assert envbool("X_UNSET", True) is True


def test_production_defaults_are_safe(settings):
    # The suite runs with DEBUG unset in the environment, i.e. production defaults.
    assert settings.DEBUG is False
    assert settings.SESSION_COOKIE_SECURE is True
    assert settings.CSRF_COOKIE_SECURE is True
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert {q.name for q in settings.CELERY_TASK_QUEUES} == {"default", "gpu"}
    assert settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_it_refuses_to_start_without_a_secret_key_in_production(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["DEBUG"] = "0"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; from django.conf import settings; settings.SECRET_KEY",
        ],
        env={**env, "DJANGO_SETTINGS_MODULE": "vibeflow_site.settings"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
