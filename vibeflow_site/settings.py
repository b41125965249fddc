"""VibeFlow settings: one file, every option from the environment.

Production is the default: DEBUG is off, cookies are secure, SECRET_KEY must be
given. The run command (./vibeflow run) asks for DEBUG explicitly.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ
import structlog
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from . import log_redaction
from .env import envbool, envfloat, envint, envlist, envstr, redis_url_for

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(envstr("VIBEFLOW_DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = envbool("DEBUG", False)


def _secret_key() -> str:
    key = envstr("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    # Development only: a key kept under the data directory so sessions survive restarts.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "django_structlog",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    "allauth.mfa",
    # Ours, in their order (vibeflow_site/layers.py): each imports only the apps above it here.
    "apps.accounts",
    "apps.catalog",
    "apps.projects",
    "apps.billing",
    "apps.datasets",
    "apps.training",
    "apps.brainstorm",
    "apps.evaluations",
    "apps.endpoints",
    "apps.workspace",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "vibeflow_site.hostile.RefuseNulInForms",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.accounts.middleware.RequireTwoFactor",
    "django_structlog.middlewares.RequestMiddleware",
]

ROOT_URLCONF = "vibeflow_site.urls"
ASGI_APPLICATION = "vibeflow_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.accounts.context_processors.teams",
                "apps.billing.context_processors.billing_banner",
            ],
        },
    },
]

# --- state -------------------------------------------------------------------

if not envstr("DATABASE_URL"):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Use ./vibeflow run or ./vibeflow test, which start an "
        "embedded PostgreSQL when it is unset, or point it at a PostgreSQL server."
    )
DATABASES = {"default": environ.Env.db_url_config(envstr("DATABASE_URL"))}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL")
if envstr("DATABASE_NAME"):  # lets a child process (the e2e tests' Daphne) use the test database
    DATABASES["default"]["NAME"] = envstr("DATABASE_NAME")
DATABASES["default"]["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", 0)
# A connection pool (psycopg_pool) for the web process: without it each request opens a
# PostgreSQL connection (~4 ms here), which the /v1/ gateway pays on every call. The web process's
# one definition (processes.py) turns it on, for the run command, the Procfile and the browser
# tests alike; workers and in-process tests keep plain connections.
if envbool("DB_POOL", False):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django requires it with a pool
    # Added to the URL's options, never in their place: a unix socket folder (the embedded
    # PostgreSQL's) or sslmode travels there, and dropping it sent the pool to the wrong server.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": envint("DB_POOL_MAX", 20),
        "timeout": 10,
    }
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = envstr("REDIS_URL")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. Use ./vibeflow run or ./vibeflow test, which start an "
        "embedded Redis when it is unset, or point it at a Redis server."
    )

# One Redis, one database number per role.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url_for(REDIS_URL, 1),
        "KEY_PREFIX": envstr("CACHE_KEY_PREFIX", "vibeflow"),
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [redis_url_for(REDIS_URL, 2)],
            "prefix": envstr("CHANNEL_PREFIX", "vibeflow"),
        },
    }
}

# --- Celery ------------------------------------------------------------------

# Training runs last hours; a late-acked task still running after the broker's
# visibility timeout would be handed to a second worker. Keep it above the
# longest run (and every task still claims its work, so a redelivery is a no-op).
_VISIBILITY_TIMEOUT = envint("CELERY_VISIBILITY_TIMEOUT", 48 * 3600)
CELERY_BROKER_URL = redis_url_for(REDIS_URL, 0, for_celery=True)
CELERY_RESULT_BACKEND = redis_url_for(REDIS_URL, 3, for_celery=True)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _VISIBILITY_TIMEOUT}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": _VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Each queue with its own exchange and routing key: a bare Queue("gpu") would be
# bound with the default key and also receive the default queue's messages.
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name), routing_key=name) for name in ("default", "gpu")
)
CELERY_TASK_DEFAULT_EXCHANGE = "default"
CELERY_TASK_DEFAULT_ROUTING_KEY = "default"
# Training, evaluation and serving go to GPU nodes; everything else stays on the web side.
CELERY_TASK_ROUTES = {
    # Exact names first (Celery matches them before the patterns): starting and ending a RunPod
    # pod and the reapers never wait behind a training run on the one-at-a-time `gpu` worker.
    "apps.training.tasks.launch_on_runpod": {"queue": "default"},
    "apps.training.tasks.finish_remote": {"queue": "default"},
    "apps.training.tasks.reap_lost_runs": {"queue": "default"},
    "apps.evaluations.tasks.reap_lost_evaluations": {"queue": "default"},
    "apps.training.tasks.*": {"queue": "gpu"},
    "apps.evaluations.tasks.*": {"queue": "gpu"},
    "apps.endpoints.tasks.serve_*": {"queue": "gpu"},
    "apps.endpoints.tasks.export_*": {"queue": "gpu"},
    "apps.workspace.tasks.*": {"queue": "gpu"},
    "apps.projects.showcase.prepare_showcase": {"queue": "gpu"},  # its name before 2026-12-07
}
CELERY_TASK_ACKS_LATE = True
# Beat: periodic jobs. The dev run command embeds it in its worker (-B); deploy/Procfile runs it alone.
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "reap-lost-training-runs": {
        "task": "apps.training.tasks.reap_lost_runs",
        "schedule": envfloat("TRAINING_REAPER_INTERVAL_S", 30.0),
    },
    "reap-lost-evaluations": {
        "task": "apps.evaluations.tasks.reap_lost_evaluations",
        "schedule": envfloat("TRAINING_REAPER_INTERVAL_S", 30.0),
    },
    "check-endpoints": {
        "task": "apps.endpoints.tasks.check_endpoints",
        "schedule": envfloat("ENDPOINT_HEALTH_INTERVAL_S", 60.0),
    },
    "check-inference-servers": {
        "task": "apps.endpoints.tasks.check_servers",
        "schedule": envfloat("SERVER_HEALTH_INTERVAL_S", 15.0),
    },
    "autoscale-endpoints": {
        "task": "apps.endpoints.tasks.autoscale",
        "schedule": envfloat("AUTOSCALE_INTERVAL_S", 10.0),
    },
    "purge-logged-calls": {
        "task": "apps.endpoints.tasks.purge_logged_calls",
        "schedule": 3600.0,  # hourly: kept content goes within an hour of its retention's end
    },
    "report-usage-to-stripe": {
        "task": "apps.billing.tasks.report_usage",
        "schedule": envfloat("BILLING_REPORT_INTERVAL_S", 60.0),
    },
    "enforce-budgets": {
        "task": "apps.billing.tasks.enforce_budgets",
        "schedule": envfloat("BILLING_BUDGET_INTERVAL_S", 30.0),
    },
    "refresh-gpu-prices": {
        "task": "apps.catalog.tasks.refresh_gpu_prices",
        "schedule": 24 * 3600.0,
    },
}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- accounts ----------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = envstr("ACCOUNT_EMAIL_VERIFICATION", "optional")
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"


# Sign-in with GitHub and Google (allauth's social accounts), each shown only when its OAuth
# app is configured. GITHUB_URL: a GitHub Enterprise server (the test suite's fake, too).
def _oauth_app(prefix: str) -> list[dict]:
    client_id = envstr(f"{prefix}_CLIENT_ID")
    return (
        [{"client_id": client_id, "secret": envstr(f"{prefix}_CLIENT_SECRET")}] if client_id else []
    )


SOCIALACCOUNT_PROVIDERS = {
    "github": {
        "APPS": _oauth_app("GITHUB"),
        "SCOPE": ["read:user", "user:email"],
        **({"GITHUB_URL": envstr("GITHUB_URL")} if envstr("GITHUB_URL") else {}),
    },
    "google": {"APPS": _oauth_app("GOOGLE"), "SCOPE": ["profile", "email"]},
}
SOCIALACCOUNT_ADAPTER = "apps.accounts.adapters.SocialAccountAdapter"
# A provider's sign-in never enters an existing account by its address alone: e-mail
# verification is optional here, so someone could have signed up with another person's address
# first and would keep their session in it. The person signs in as before and connects GitHub
# or Google from their account instead.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_QUERY_EMAIL = True
SOCIALACCOUNT_STORE_TOKENS = False  # sign-in only: nothing is done with the providers' tokens
# Two-factor authentication (allauth's MFA): an authenticator app's codes, and recovery codes.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "VibeFlow"
MFA_ADAPTER = "apps.accounts.adapters.MFAAdapter"  # authenticator secrets encrypted
# Throttling against password guessing, counted in Redis (the cache above) so it
# holds across every web process: failed log-ins per IP and per account.
ACCOUNT_RATE_LIMITS = {
    "login_failed": envstr("RATE_LIMIT_LOGIN_FAILED", "10/m/ip,5/5m/key"),
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
}

EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "VibeFlow <noreply@vibeflow.local>")
INVITATION_DAYS = envint("INVITATION_DAYS", 7)

# --- security ----------------------------------------------------------------

SECURE_COOKIES = envbool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
if envbool("BEHIND_TLS_PROXY", False):
    # Only behind a proxy that sets this header itself (deploy/nginx does).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- files -------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Front-end libraries come from the npm registry (package-lock.json); only the
# built files are exposed, never the whole node_modules tree.
_VENDOR = {"uplot": BASE_DIR / "node_modules" / "uplot" / "dist"}
STATICFILES_DIRS += [(f"vendor/{name}", path) for name, path in _VENDOR.items() if path.is_dir()]
# Production serves hashed, compressed files made by collectstatic; development
# and the tests serve straight from static/ through the finders.
STATIC_MANIFEST = envbool("STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every start without it
MEDIA_ROOT = DATA_DIR / "media"
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATASET_MAX_UPLOAD_BYTES = envint("DATASET_MAX_UPLOAD_MB", 500) * 1024 * 1024

# --- i18n --------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- models and providers ----------------------------------------------------

# Converted bundled model and hub downloads; shared by web, workers and tests.
# Crash recovery (apps/training/recovery.py): a running run's worker beats every
# TRAINING_HEARTBEAT_S; silent for TRAINING_STALE_AFTER_S, the run is queued again and resumes
# from its last checkpoint, at most TRAINING_MAX_ATTEMPTS times in all.
TRAINING_HEARTBEAT_S = envfloat("TRAINING_HEARTBEAT_S", 10.0)
TRAINING_STALE_AFTER_S = envfloat("TRAINING_STALE_AFTER_S", 90.0)
# Evaluation: how many test examples at most (0: all); docs/PRODUCT.md 5.1's auto-evaluation takes them all.
EVALUATION_MAX_EXAMPLES = envint("EVALUATION_MAX_EXAMPLES", 0)
# How many random test examples the LLM judge scores (docs/PRODUCT.md 5.1: 20).
EVALUATION_JUDGE_SAMPLES = envint("EVALUATION_JUDGE_SAMPLES", 20)
# Items per standard benchmark (a seeded sample of its test data)
EVALUATION_BENCHMARK_ITEMS = envint("EVALUATION_BENCHMARK_ITEMS", 100)
EVALUATION_STALE_AFTER_S = envfloat("EVALUATION_STALE_AFTER_S", 1800.0)
TRAINING_MAX_ATTEMPTS = envint("TRAINING_MAX_ATTEMPTS", 3)
REMOTE_STALE_AFTER_S = envfloat("REMOTE_STALE_AFTER_S", 900.0)
MODEL_CACHE_DIR = Path(envstr("VIBEFLOW_MODEL_CACHE", str(DATA_DIR / "models"))).resolve()
GEMINI_API_KEY = envstr("GEMINI_API_KEY")
GEMINI_MODEL = envstr("GEMINI_MODEL", "gemini-2.5-flash")
GEMINI_BASE_URL = envstr(
    "GEMINI_BASE_URL"
)  # empty: Google's endpoint; tests point it at a local server
GEMINI_TIMEOUT_S = envint("GEMINI_TIMEOUT_S", 20)
RUNPOD_API_KEY = envstr("RUNPOD_API_KEY")
if envstr("RUNPOD_API_BASE_URL"):
    os.environ["RUNPOD_API_BASE_URL"] = envstr(
        "RUNPOD_API_BASE_URL"
    )  # the runpod SDK reads it on each call
# Remote training on RunPod: the GPU worker image (deploy/docker/gpu-worker.Dockerfile) and the
# public address its pods report to. Both, with RUNPOD_API_KEY, switch RunPod GPUs on.
RUNPOD_WORKER_IMAGE = envstr("RUNPOD_WORKER_IMAGE", "ghcr.io/vibeflow/gpu-worker:latest")
VIBEFLOW_PUBLIC_URL = envstr("VIBEFLOW_PUBLIC_URL").rstrip("/")
# Teams' alert webhooks may name http and internal addresses (local development, the suite).
ALERT_WEBHOOK_ALLOW_PRIVATE = envbool("ALERT_WEBHOOK_ALLOW_PRIVATE", False)
# Serving on RunPod serverless (apps/endpoints/runpod_serving.py), with RUNPOD_API_KEY: each
# version asked for gets a serverless endpoint running RunPod's vLLM worker, which loads the
# base model and the version from the Hugging Face Hub. Calls go to RunPod's OpenAI-compatible
# route under RUNPOD_ENDPOINT_BASE_URL (the runpod SDK's `endpoint_url_base`; tests point it at
# a local server).
RUNPOD_ENDPOINT_BASE_URL = envstr("RUNPOD_ENDPOINT_BASE_URL", "https://api.runpod.ai/v2").rstrip(
    "/"
)
RUNPOD_SERVING_IMAGE = envstr("RUNPOD_SERVING_IMAGE", "runpod/worker-v1-vllm:stable-cuda12.1.0")
# RunPod's GPU pool ids for the workers, most wanted first.
RUNPOD_SERVING_GPU_IDS = envstr("RUNPOD_SERVING_GPU_IDS", "AMPERE_24,ADA_24")
# Seconds a worker stays up after its last call (billed), and calls one worker runs at once.
RUNPOD_IDLE_TIMEOUT_S = envint("RUNPOD_IDLE_TIMEOUT_S", 5)
RUNPOD_CALLS_PER_WORKER = envint("RUNPOD_CALLS_PER_WORKER", 8)
# What a worker costs per second: RunPod's published flex price of the 24 GB pool (AMPERE_24,
# $0.00019/s); set your own pools' price. Workers' time is metered from the endpoint's /health.
RUNPOD_SERVERLESS_PRICE_PER_S = envstr("RUNPOD_SERVERLESS_PRICE_PER_S", "0.00019")
# How long the first call may wait for a worker to start (a cold start loads the model).
RUNPOD_COLD_START_TIMEOUT_S = envfloat("RUNPOD_COLD_START_TIMEOUT_S", 600.0)
# Self-hosted GPU workers consuming the `gpu` queue (deploy/Procfile's gpu-worker) train GPU runs.
GPU_WORKERS = envbool("VIBEFLOW_GPU_WORKERS", False)
STRIPE_SECRET_KEY = envstr("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = envstr("STRIPE_WEBHOOK_SECRET")
# The Stripe API's address: empty for Stripe itself (tests point it at a local server).
STRIPE_API_BASE = envstr("STRIPE_API_BASE").rstrip("/")
# Stripe prices of the paid plans, "pro=price_...,enterprise=price_..." (or set in the admin).
STRIPE_PRICE_IDS = dict(
    item.split("=", 1) for item in envlist("STRIPE_PRICE_IDS", []) if "=" in item
)
# Stripe Billing Meters the usage is reported to (their event names).
STRIPE_METER_GPU_SECONDS = envstr("STRIPE_METER_GPU_SECONDS", "vibeflow_gpu_seconds")
STRIPE_METER_TOKENS = envstr("STRIPE_METER_TOKENS", "vibeflow_tokens")
# After a failed payment the team keeps its plan this long (with a banner), then gets Free limits.
BILLING_GRACE_DAYS = envint("BILLING_GRACE_DAYS", 7)
HF_TOKEN = envstr("HF_TOKEN")
# Fernet keys for secrets users give us (vibeflow_site/encryption.py): the first encrypts, all
# decrypt. Empty: one key derived from SECRET_KEY.
ENCRYPTION_KEYS = envlist("ENCRYPTION_KEYS", [])

# --- serving and the /v1/ gateway --------------------------------------------

# The inference server deployments load into: `transformers serve` here (the Procfile's
# `inference` process), `vllm serve --enable-lora` on GPU nodes (INFERENCE_BACKEND=vllm).
INFERENCE_BACKEND = envstr("INFERENCE_BACKEND", "transformers")
if INFERENCE_BACKEND not in ("transformers", "vllm"):
    raise ImproperlyConfigured("INFERENCE_BACKEND must be transformers or vllm")
INFERENCE_SERVER_URL = envstr("INFERENCE_SERVER_URL", "http://127.0.0.1:8100").rstrip("/")
# That server is a row of the server table (apps/endpoints/servers.py); more servers are added
# in the admin or announce themselves (POST /internal/servers/announce with this token; empty:
# announcing is off). What the configured one holds: vLLM's base model (empty: any LoRA), and
# how many versions at once (vLLM's --max-loras; models the CPU server keeps loaded).
INFERENCE_BASE_MODEL = envstr("INFERENCE_BASE_MODEL", "")
INFERENCE_SERVER_CAPACITY = envint("INFERENCE_SERVER_CAPACITY", 4)
SERVER_ANNOUNCE_TOKEN = envstr("SERVER_ANNOUNCE_TOKEN", "")
# A server failing this many health checks in a row is down: its replicas move.
SERVER_FAILURES_BEFORE_DOWN = envint("SERVER_FAILURES_BEFORE_DOWN", 2)
# The gateway takes a server out of routing after this many refused connections within
# GATEWAY_UNREACHABLE_WINDOW_S, without waiting for the next health round.
GATEWAY_UNREACHABLE_BEFORE_DOWN = envint("GATEWAY_UNREACHABLE_BEFORE_DOWN", 3)
GATEWAY_UNREACHABLE_WINDOW_S = envint("GATEWAY_UNREACHABLE_WINDOW_S", 30)
# Endpoint incidents (apps/endpoints/incidents.py): failed calls and latency are judged over the
# last INCIDENT_WINDOW_MIN minutes, and only with INCIDENT_MIN_CALLS calls in them.
INCIDENT_WINDOW_MIN = envint("INCIDENT_WINDOW_MIN", 15)
INCIDENT_MIN_CALLS = envint("INCIDENT_MIN_CALLS", 20)
# Autoscaling (apps/endpoints/autoscale.py): every AUTOSCALE_INTERVAL_S the calls in flight of
# each autoscaled endpoint are sampled. A replica is added as soon as their mean over the last
# AUTOSCALE_UP_WINDOW_S exceeds the endpoint's target per replica; one is removed only when
# their peak over the last AUTOSCALE_DOWN_WINDOW_S would have fitted in fewer (hysteresis: up on
# the mean of a short window, down on the peak of a long one).
AUTOSCALE_UP_WINDOW_S = envfloat("AUTOSCALE_UP_WINDOW_S", 60.0)
AUTOSCALE_DOWN_WINDOW_S = envfloat("AUTOSCALE_DOWN_WINDOW_S", 300.0)
# The largest base (billions of parameters) a GPU-trained version may be served with on a CPU
# server, when the person deploying allows it.
CPU_SERVE_MAX_PARAMS_B = envfloat("CPU_SERVE_MAX_PARAMS_B", 2.0)
SERVING_START_TIMEOUT_S = envfloat("SERVING_START_TIMEOUT_S", 120.0)
GATEWAY_TIMEOUT_S = envint("GATEWAY_TIMEOUT_S", 30)
GATEWAY_MAX_BODY_BYTES = envint("GATEWAY_MAX_BODY_BYTES", 1024 * 1024)
GATEWAY_MAX_TOKENS = envint("GATEWAY_MAX_TOKENS", 4096)
GATEWAY_DEFAULT_MAX_TOKENS = envint("GATEWAY_DEFAULT_MAX_TOKENS", 256)
# What one call may ask of a server every team shares (OpenAI allows n up to 128 and 2,048
# messages; one such call held the CPU server for minutes).
GATEWAY_MAX_N = envint("GATEWAY_MAX_N", 4)
GATEWAY_MAX_MESSAGES = envint("GATEWAY_MAX_MESSAGES", 256)
# Calls in flight at once: per key, per team, and per inference server before it is shared
# out fairly between the teams calling it (apps/endpoints/gateway/inflight.py).
GATEWAY_MAX_IN_FLIGHT_PER_KEY = envint("GATEWAY_MAX_IN_FLIGHT_PER_KEY", 8)
GATEWAY_MAX_IN_FLIGHT_PER_TEAM = envint("GATEWAY_MAX_IN_FLIGHT_PER_TEAM", 16)
INFERENCE_SERVER_SLOTS = envint(
    "INFERENCE_SERVER_SLOTS", 4 if INFERENCE_BACKEND == "transformers" else 64
)
# The CPU server's cache budget (workers/serving/cpu_server.py reads the same variable): the
# gateway refuses a call whose prompt and answer could not fit a share of it.
INFERENCE_KV_CACHE_GB = envfloat("INFERENCE_KV_CACHE_GB", 1.0)
# The most tokens (prompt and answer) one call may hold at the CPU server, whatever the model's
# context: a longer call slowed every other team's calls several times over on two cores.
INFERENCE_MAX_CALL_TOKENS = envint("INFERENCE_MAX_CALL_TOKENS", 1024)
# How long a call over its team's fair share waits for a place before its 429.
GATEWAY_QUEUE_WAIT_S = envfloat("GATEWAY_QUEUE_WAIT_S", 10.0)
# /v1/models and /v1/feedback are counted apart from generation, with this many per minute.
GATEWAY_METADATA_RPM = envint("GATEWAY_METADATA_RPM", 600)
# Request log rows written by a background thread of each web process (off the request path).
GATEWAY_LOG_IN_BACKGROUND = envbool("GATEWAY_LOG_IN_BACKGROUND", True)
# docs/PRODUCT.md "Plans": free 100 requests/min per key, pro 1,000 (plans arrive with billing).
ENDPOINT_DEFAULT_RPM = envint("ENDPOINT_DEFAULT_RPM", 100)
ENDPOINT_DEFAULT_TPM = envint("ENDPOINT_DEFAULT_TPM", 100_000)
# The example answer of docs/PRODUCT.md 6.2: 45 tokens cost $0.00045, i.e. $0.01 per 1,000 tokens.
INFERENCE_PRICE_PER_1K_TOKENS = envstr("INFERENCE_PRICE_PER_1K_TOKENS", "0.01")
# Grace periods offered when rotating a key, in seconds (0: the old key stops at once).
API_KEY_ROTATION_GRACE_S = [
    int(s) for s in envlist("API_KEY_ROTATION_GRACE_S", ["0", "3600", "86400", "604800"])
]
HF_ENDPOINT = envstr("HF_ENDPOINT", "https://huggingface.co")

# --- logs --------------------------------------------------------------------

LOG_LEVEL = envstr("LOG_LEVEL", "INFO")
LOG_FORMAT = envstr("LOG_FORMAT", "console" if DEBUG else "json")
DJANGO_STRUCTLOG_CELERY_ENABLED = True


def _log_processors(renderer) -> list:
    """Every line, ours or a library's, scrubbed of credentials (vibeflow_site/log_redaction.py).
    Tracebacks are rendered as plain text first, without their frames' local variables: a
    rich traceback printed them, and an ASGI scope among them carried every cookie."""
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        log_redaction.redact_event,
        renderer,
        log_redaction.redact_rendered,
    ]


# Lines from the standard library's loggers (ours, Django's, Celery's) get what structlog's own
# lines carry: level, logger, time, and the ``extra=`` fields (an operator's detail travels
# there, e.g. a failed deploy's server address), redacted like everything else.
_FOREIGN_PRE_CHAIN = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso"),
    structlog.stdlib.ExtraAdder(),
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": structlog.stdlib.ProcessorFormatter,
            "foreign_pre_chain": _FOREIGN_PRE_CHAIN,
            "processors": _log_processors(structlog.processors.JSONRenderer()),
        },
        "console": {
            "()": structlog.stdlib.ProcessorFormatter,
            "foreign_pre_chain": _FOREIGN_PRE_CHAIN,
            "processors": _log_processors(
                structlog.dev.ConsoleRenderer(
                    colors=False, exception_formatter=structlog.dev.plain_traceback
                )
            ),
        },
    },
    "handlers": {
        "stream": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["stream"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

structlog.configure(
    processors=[
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.filter_by_level,
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    cache_logger_on_first_use=True,
)

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
