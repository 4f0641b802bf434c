"""Base settings shared by every environment.

Read top to bottom: paths, security, apps, middleware, database, cache, Celery, i18n,
DRF, logging, Joopang's own knobs. Every knob is an environment variable documented in
README.md and .env.example.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from joopang.settings.env import env_bool, env_int, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = env_path("VAR_DIR", BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Security -----------------------------------------------------------------------
SECRET_KEY = env_str("SECRET_KEY", "dev-insecure-secret-key-change-me-in-production-0123456789")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Applications -------------------------------------------------------------------
INSTALLED_APPS = [
    "modeltranslation",  # must precede django.contrib.admin
    # Project apps before third-party ones (Django's contrib apps included): an app listed
    # earlier has the higher precedence for templates and translations, so a third-party
    # catalog can never translate a project msgid ("Name" was "태스크 이름" from
    # django-celery-results; "users" was django.contrib.auth's "사용자(들)").
    # tests/core/test_catalogs.py holds this.
    "apps.core",
    "apps.markets",
    "apps.accounts",
    "apps.catalog",
    "apps.inventory",
    "apps.coupons",
    "apps.payments",
    "apps.carts",
    "apps.orders",
    "apps.notifications",
    "apps.integrations",
    "apps.analytics",
    "apps.storefront",
    # The back office theme (issue 15): unfold's templates must win over the admin's.
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.import_export",  # before import_export: unfold's export templates
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "django_prometheus",
    "django_structlog",
    "guardian",
    "rest_framework_simplejwt.token_blacklist",
    "import_export",  # back-office list exports (apps.core.admin_export)
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "joopang.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Input and header layers (ADR 0005): CSP and Permissions-Policy/no-store wrap every
    # answer, the guard's refusals included; the guard runs before anything reads input.
    "joopang.middleware.ContentSecurityPolicyMiddleware",
    "joopang.middleware.SecurityHeadersMiddleware",
    "joopang.middleware.InputGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "joopang.middleware.CommonMiddleware",  # no RuntimeError for a POST without its slash
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.accounts.middleware.TokenClaimsMiddleware",
    "joopang.middleware.LocaleMarketMiddleware",
    "joopang.middleware.MethodNotAllowedPageMiddleware",  # a view's bare 405: the error page
    "joopang.middleware.LazyMessageMiddleware",  # Django's, storage built on first use
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "joopang.middleware.RequestLogMiddleware",  # django-structlog's, cheaper
    "joopang.middleware.PrometheusAfterMiddleware",  # bounded label values
]

ROOT_URLCONF = "joopang.urls"
WSGI_APPLICATION = "joopang.wsgi.application"
ASGI_APPLICATION = "joopang.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.storefront.context_processors.storefront",
            ],
        },
    }
]

# --- Database -----------------------------------------------------------------------
# Embedded default: SQLite in WAL mode. IMMEDIATE transactions take the write lock up
# front and the busy timeout makes web, worker and beat wait for each other instead of
# failing with "database is locked".
SQLITE_PATH = VAR_DIR / "joopang.sqlite3"
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL)
    if _db["ENGINE"] == "django.db.backends.postgresql":
        # psycopg 3 with Django's built-in pool: persistent connections are not allowed
        # together with the pool, so CONN_MAX_AGE stays 0 and the pool keeps them.
        _db["CONN_MAX_AGE"] = 0
        _db.setdefault("OPTIONS", {})
        if env_bool("DB_POOL", True):
            _db["OPTIONS"]["pool"] = {
                "min_size": env_int("DB_POOL_MIN_SIZE", 1),
                "max_size": env_int("DB_POOL_MAX_SIZE", 10),
                "timeout": env_int("DB_POOL_TIMEOUT", 10),
            }
        _db["CONN_HEALTH_CHECKS"] = False
        if env_bool("DB_PREPARED_STATEMENTS", True):
            # Server-side binding, and psycopg prepares a statement the DB_PREPARE_THRESHOLD-th
            # time a connection runs it: PostgreSQL then stops planning it again, which was
            # 70 % of the checkout's statement time (ADR 0014). Off behind a pooler that
            # cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
            _db["OPTIONS"]["server_side_binding"] = True
            _db["OPTIONS"]["prepare_threshold"] = env_int("DB_PREPARE_THRESHOLD", 5)
    elif _db["ENGINE"] == "django.db.backends.sqlite3":
        _db.setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(SQLITE_PATH),
            "OPTIONS": SQLITE_OPTIONS,
        }
    }

# Read replicas (issue 25 item 5; joopang/db_router.py, docs/scaling.md): comma-separated URLs
# of streaming standbys of DATABASE_URL, as aliases replica0, replica1... Empty (the default):
# none, every read on the primary. Only the catalog's reads that ask for it go there; a
# replica more than MAX_LAG seconds behind, or unreachable (then skipped for RETRY seconds),
# is passed over for the primary. Persistent connections (no pool: a pool waits its whole
# timeout for a server that is down) with a short connect timeout and a health check.
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS", [])
DATABASE_REPLICA_MAX_LAG_SECONDS = float(env_str("DATABASE_REPLICA_MAX_LAG_SECONDS", "5"))
DATABASE_REPLICA_RETRY_SECONDS = float(env_str("DATABASE_REPLICA_RETRY_SECONDS", "30"))
for _n, _url in enumerate(DATABASE_REPLICA_URLS):
    _replica = dj_database_url.parse(_url, conn_max_age=600, conn_health_checks=True)
    if _replica["ENGINE"] == "django.db.backends.postgresql":
        _replica.setdefault("OPTIONS", {})["connect_timeout"] = 2
    elif _replica["ENGINE"] == "django.db.backends.sqlite3":
        _replica.setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
    _replica["TEST"] = {"MIRROR": "default"}  # tests read "the replica" from the test database
    DATABASES[f"replica{_n}"] = _replica
DATABASE_ROUTERS = ["joopang.db_router.ReplicaRouter"]

# --- Cache --------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "joopang.cache.JoopangRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "joopang"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "joopang",
        }
    }

# --- Celery -------------------------------------------------------------------------
# Without CELERY_BROKER_URL the broker is kombu's filesystem transport under var/: it
# needs no server and works across processes (web, worker and beat share the folder).
CELERY_QUEUE_DIR = VAR_DIR / "celery" / "queue"
CELERY_PROCESSED_DIR = VAR_DIR / "celery" / "processed"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_QUEUE_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_PROCESSED_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR),
        "data_folder_out": str(CELERY_QUEUE_DIR),
        "processed_folder": str(CELERY_PROCESSED_DIR),
        # pidbox (celery inspect/control) files; kombu's default is ./control
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "django-db")
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = 60 * 60 * 24
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Seeded into django-celery-beat's tables on beat start; ops edit them in the admin.
CELERY_BEAT_SCHEDULE = {
    "idempotency-keys-purge": {
        "task": "joopang.core.idempotency_keys_purge",
        "schedule": 60 * 60,
    },
}

# --- Auth ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"

# --- Internationalisation -----------------------------------------------------------
LANGUAGE_CODE = "en"  # the fallback when nothing else picks a language
LANGUAGES = [("ko", "한국어"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "joopang_lang"
MARKET_COOKIE_NAME = "joopang_market"
DEFAULT_MARKET = env_str("DEFAULT_MARKET", "KR")
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_LANGUAGES = ("ko", "en")
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en", "ko")

# --- Static files -------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", VAR_DIR / "staticfiles")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- REST framework -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Bearer first: its WWW-Authenticate header makes DRF answer 401, not 403.
        "apps.accounts.authentication.BearerJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.BoundedJSONParser",  # depth limit: no RecursionError
        "apps.core.parsers.CheckedFormParser",  # no control characters
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.CursorPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.JoopangAutoSchema",
    "EXCEPTION_HANDLER": "joopang.exceptions.problem_exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.api.renderers.ProblemAwareContentNegotiation",
    "DEFAULT_THROTTLE_RATES": {},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Joopang REST API",
    "DESCRIPTION": (
        "Joopang (주팡) commerce API v1. Errors are RFC 9457 application/problem+json with a "
        "stable `code`; money is `{amount, currency, display}` in minor units. "
        "Deprecations are announced with `Deprecation` and `Sunset` headers and listed here. "
        "Currently deprecated: none."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SORT_OPERATIONS": False,
    # Swagger UI from our own static files (drf-spectacular-sidecar): no CDN, since
    # deployments may be closed networks.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging ------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "json")  # json | console
from joopang.logging import build_logging_config  # noqa: E402

LOGGING = build_logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# RequestIdMiddleware has already validated (or replaced) the incoming X-Request-ID, and
# binds the caller's address as the throttles see it (trusted proxies only:
# AUTH_TRUSTED_PROXY_COUNT), not django-ipware's guess from any X-Forwarded-For.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False
# One line per request: ``request_finished`` (or ``request_failed``) carries the request,
# its status and the bound context; ``request_started`` only at DEBUG.
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = 10  # logging.DEBUG

# --- Accounts (issue 3: auth, tokens, roles, PII, throttling) -------------------------
# Every knob below is an environment variable (README / .env.example list them).
from datetime import timedelta as _timedelta  # noqa: E402

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",  # market scope of staff (object perms)
]
# guardian's anonymous user would be created with the email USERNAME_FIELD; we do not
# need object permissions for guests.
ANONYMOUS_USER_NAME = None
GUARDIAN_ANONYMOUS_USER_NAME = None
LOGIN_REDIRECT_URL = "/accounts/profile/"
LOGOUT_REDIRECT_URL = "/"

# PII at rest: Fernet keys, comma-separated, the first one encrypts, all decrypt.
# The embedded default is a FIXED, PUBLIC development key: INSECURE, never use it in
# production (joopang.settings.prod refuses to start with it).
DEV_INSECURE_FIELD_ENCRYPTION_KEY = "ZGV2LWluc2VjdXJlLWpvb3BhbmctZmllbGQta2V5ISE="
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [DEV_INSECURE_FIELD_ENCRYPTION_KEY])
# Key of the blind indexes that let staff find a member by phone (HMAC-SHA256); empty means
# derived from SECRET_KEY. Set it in production so rotating SECRET_KEY leaves searches working.
FIELD_INDEX_KEY = env_str("FIELD_INDEX_KEY", "")

# JWTs (djangorestframework-simplejwt); the token endpoint is apps.accounts.api.
JWT_ACCESS_TOKEN_SECONDS = env_int("JWT_ACCESS_TOKEN_SECONDS", 300)
JWT_REFRESH_TOKEN_SECONDS = env_int("JWT_REFRESH_TOKEN_SECONDS", 60 * 60 * 24 * 14)
JWT_CLIENT_TOKEN_SECONDS = env_int("JWT_CLIENT_TOKEN_SECONDS", 900)
SIMPLE_JWT: dict[str, Any] = {
    "ACCESS_TOKEN_LIFETIME": _timedelta(seconds=JWT_ACCESS_TOKEN_SECONDS),
    "REFRESH_TOKEN_LIFETIME": _timedelta(seconds=JWT_REFRESH_TOKEN_SECONDS),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY") or SECRET_KEY,
    "ISSUER": env_str("JWT_ISSUER", "joopang"),
    "LEEWAY": env_int("JWT_LEEWAY_SECONDS", 0),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

# --- Sign-in policy (issue 16) ---------------------------------------------------------
# One policy for every way in (API password grant, storefront login, admin login);
# docs/adr/0004-sign-in-policy.md explains it. Two gates run inside authenticate(), in
# front of the password check (AUTHENTICATION_BACKENDS below):
# 1. per client address, sliding windows over ALL sign-in attempts (apps.accounts.throttling:
#    a Lua script on Redis, a locked row in the database otherwise; never process memory).
#    Rates: comma-separated "<count>/<second|minute|hour|day>", each a sliding window.
AUTH_LOGIN_RATE = env_str("AUTH_LOGIN_RATE", "20/minute,200/hour")
AUTH_REGISTER_RATE = env_str("AUTH_REGISTER_RATE", "10/hour")
AUTH_TOKEN_RATE = env_str("AUTH_TOKEN_RATE", "60/minute")  # every grant of POST /auth/token
# 2. per (email, client address) pair, django-axes: AUTH_LOCKOUT_THRESHOLD failures within
#    AUTH_LOCKOUT_MINUTES lock that pair (and only that pair) until AUTH_LOCKOUT_MINUTES
#    after its last counted failure. Unknown emails count and lock exactly like real ones.
AUTH_LOCKOUT_THRESHOLD = env_int("AUTH_LOCKOUT_THRESHOLD", 5)
AUTH_LOCKOUT_MINUTES = env_int("AUTH_LOCKOUT_MINUTES", 15)
# Number of reverse proxies in front of the app (X-Forwarded-For hops to trust for the
# client address both gates key on); 0 = use REMOTE_ADDR.
AUTH_TRUSTED_PROXY_COUNT = env_int("AUTH_TRUSTED_PROXY_COUNT", 0)

INSTALLED_APPS.append("axes")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last: it sees the view's response
AUTHENTICATION_BACKENDS[:0] = [
    "apps.accounts.auth.SignInRateBackend",  # gate 1 (first: nothing is checked when over)
    "axes.backends.AxesStandaloneBackend",  # gate 2
]
AXES_ENABLED = True
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"  # shared by every process
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = "apps.accounts.auth.axes_failure_limit"  # AUTH_LOCKOUT_THRESHOLD
AXES_COOLOFF_TIME = "apps.accounts.auth.axes_cool_off"  # AUTH_LOCKOUT_MINUTES
AXES_RESET_ON_SUCCESS = True  # a successful sign-in clears the pair's failures
# Attempts refused while locked (or throttled) are not failures: they neither extend the
# lock nor count towards the next one.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_FORM_FIELD = "username"  # authenticate(username=...) everywhere
AXES_USERNAME_CALLABLE = "apps.accounts.auth.axes_username"  # trimmed, lower-cased email
AXES_CLIENT_IP_CALLABLE = "apps.accounts.auth.axes_client_ip"  # trusted proxies, IPv6 /64
AXES_LOCKOUT_CALLABLE = "apps.accounts.auth.sign_in_lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # no row per successful sign-in (personal data, unbounded)
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "email", "csrfmiddlewaretoken"]
AXES_VERBOSE = False
# No axes screens in the back office (yet): ops let a shopper in early with
# `manage.py axes_reset_username EMAIL` (or axes_reset_ip ADDRESS).
AXES_ENABLE_ADMIN = False

# Privacy: versions of the documents a shopper consents to at sign-up.
CONSENT_TERMS_VERSION = env_str("CONSENT_TERMS_VERSION", "2026-01")
CONSENT_PRIVACY_VERSION = env_str("CONSENT_PRIVACY_VERSION", "2026-01")
CONSENT_MARKETING_VERSION = env_str("CONSENT_MARKETING_VERSION", "2026-01")
CONSENT_CROSS_BORDER_VERSION = env_str("CONSENT_CROSS_BORDER_VERSION", "2026-01")


# --- Catalog and inventory (issue 4) ------------------------------------------------
CATALOG_BASE_MARKET = env_str("CATALOG_BASE_MARKET", "KR")  # FX fallback source
CATALOG_DEFAULT_SORT = "popular"
CATALOG_POPULAR_DAYS = 3  # market-local days, today included
CATALOG_POPULAR_CACHE_SECONDS = env_int("CATALOG_POPULAR_CACHE_SECONDS", 60)
CATALOG_CATEGORY_CACHE_SECONDS = env_int("CATALOG_CATEGORY_CACHE_SECONDS", 300)
CATALOG_LOW_STOCK_THRESHOLD = env_int("CATALOG_LOW_STOCK_THRESHOLD", 5)
# Read caching (apps/catalog/readcache.py): the longest a cached page or payload lives; 0: off.
CATALOG_READ_CACHE_SECONDS = env_int("CATALOG_READ_CACHE_SECONDS", 30)
INVENTORY_AVAILABILITY_MAX_SKUS = 100
# Issue 17: reservations, the stock ledger, low-stock signals.
INVENTORY_LOW_STOCK_THRESHOLD = env_int("INVENTORY_LOW_STOCK_THRESHOLD", CATALOG_LOW_STOCK_THRESHOLD)
INVENTORY_EXPIRY_BATCH_SIZE = env_int("INVENTORY_EXPIRY_BATCH_SIZE", 500)
INVENTORY_OVERDUE_GRACE_SECONDS = env_int("INVENTORY_OVERDUE_GRACE_SECONDS", 60)
# Holds past their expiry are released by this sweep alone, within this many seconds (no
# task per hold; until then a short reserve reclaims them itself).
INVENTORY_EXPIRE_SWEEP_SECONDS = env_int("INVENTORY_EXPIRE_SWEEP_SECONDS", 5)
CELERY_BEAT_SCHEDULE["inventory-reservations-expire-sweep"] = {
    "task": "joopang.inventory.reservations_expire_sweep",
    "schedule": INVENTORY_EXPIRE_SWEEP_SECONDS,
}
CELERY_BEAT_SCHEDULE["catalog-listings-refresh"] = {
    "task": "joopang.catalog.listings_refresh_due",
    "schedule": 60,
}
CELERY_BEAT_SCHEDULE["catalog-popularity-refresh"] = {
    "task": "joopang.catalog.popularity_refresh",
    "schedule": 60 * 30,
}

# --- Joopang ------------------------------------------------------------------------
IDEMPOTENCY_KEY_TTL_HOURS = env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24)
# A key left "in progress" longer than this (a crashed worker) may be taken over.
IDEMPOTENCY_LOCK_SECONDS = env_int("IDEMPOTENCY_LOCK_SECONDS", 60)
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"])
# Called at each /metrics scrape to set gauges read from the database.
METRICS_REFRESH_HOOKS = ["apps.inventory.metrics.gauges_refresh"]
# django-prometheus request-duration buckets: a 0.4 s bound so the "P95 over 400 ms" alert
# (docker/prometheus/alerts.yml, CheckoutLatencyP95High) is read off a bucket, not interpolated.
PROMETHEUS_LATENCY_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1,
    2.5,
    5,
    10,
    30,
    float("inf"),
)
READINESS_TIMEOUT_SECONDS = env_int("READINESS_TIMEOUT_SECONDS", 2)

# --- Input limits and security headers (issue 16, ADR 0005) -------------------------
from csp.constants import NONCE, NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE  # noqa: E402

# A body over this many bytes (multipart uploads included) is 413
# request.too_large; more query parameters or form fields than this is 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000)
API_JSON_MAX_DEPTH = 32  # deeper JSON bodies are 400 request.malformed
CSRF_FAILURE_VIEW = "joopang.errorpages.csrf_failure"
# One policy for every surface; scripts only from our own static files or carrying the
# request's nonce (``<script nonce="{{ request.csp_nonce }}">``), never inline handlers.
# Inline styles are allowed (Swagger UI and the admin theme set style attributes).
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Added under /admin/ only: django-unfold's Alpine.js evaluates x-data with new Function.
CONTENT_SECURITY_POLICY_ADMIN_UPDATE: dict[str, list[str]] = {"script-src": [UNSAFE_EVAL]}
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
)


# --- Back-office list exports (django-import-export, issue 23; apps.core.admin_export) -
# Export only (no admin imports anywhere). Who may view a list may export it: the
# admins' ListExportMixin asks has_view_permission; "view" is the library's default for
# any other export. Formulae are escaped by apps.core.admin_export's formats (a leading
# apostrophe on = + - @ in CSV and XLSX): the library's own option only drops a leading
# "=" and writes every cell as text, so it stays off.
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False
IMPORT_EXPORT_ESCAPE_ILLEGAL_CHARS_ON_EXPORT = True  # a control character is not a 500


# --- Back office (django-unfold, issue 15) --------------------------------------------
# Callables are dotted paths into joopang.admin_site (unfold imports and calls them with
# the request). The admin's language and the market's time zone are activated by
# AdminLocaleMiddleware, right after LocaleMarketMiddleware (which sets request.market).
from django.utils.translation import gettext_lazy as _admin_  # noqa: E402

MIDDLEWARE.insert(
    MIDDLEWARE.index("joopang.middleware.LocaleMarketMiddleware") + 1,
    "joopang.admin_site.AdminLocaleMiddleware",
)
UNFOLD: dict[str, Any] = {
    "SITE_TITLE": _admin_("Joopang back office"),
    "SITE_HEADER": _admin_("Joopang back office"),
    "SITE_SUBHEADER": "joopang.admin_site.time_zone_label",
    "SITE_URL": "/",
    "SITE_SYMBOL": "storefront",
    "SITE_FAVICONS": [{"rel": "icon", "type": "image/svg+xml", "href": "/static/img/favicon.svg"}],
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": True,
    "SHOW_LANGUAGES": False,
    "DASHBOARD_CALLBACK": "joopang.admin_site.dashboard_callback",
    "STYLES": ["joopang.admin_site.stylesheet"],
    "BORDER_RADIUS": "6px",
    # The storefront's accent (#0b57d0) as the primary colour.
    "COLORS": {
        "primary": {
            "50": "oklch(97% .014 254.604)",
            "100": "oklch(93.2% .032 255.585)",
            "200": "oklch(88.2% .059 254.128)",
            "300": "oklch(80.9% .105 251.813)",
            "400": "oklch(70.7% .165 254.624)",
            "500": "oklch(62.3% .214 259.815)",
            "600": "oklch(54.6% .245 262.881)",
            "700": "oklch(48.8% .243 264.376)",
            "800": "oklch(42.4% .199 265.638)",
            "900": "oklch(37.9% .146 265.522)",
            "950": "oklch(28.2% .091 267.935)",
        },
    },
    "SIDEBAR": {
        "show_search": False,
        "command_search": False,
        "show_all_applications": False,
        "navigation": "joopang.admin_site.sidebar_navigation",
    },
}

# --- Carts (issue 18) --------------------------------------------------------------------
# A guest cart lives this many days after its last use; beat prunes the expired ones.
CART_GUEST_TTL_DAYS = env_int("CART_GUEST_TTL_DAYS", 14)
# Most different SKUs (lines) one cart holds.
CART_MAX_LINES = env_int("CART_MAX_LINES", 50)
# Market code -> dotted path of the tax / shipping calculator (apps/carts/calculators.py).
CART_TAX_CALCULATORS = {
    "KR": "apps.carts.calculators.IncludedVat",
    "US": "apps.carts.calculators.AddedSalesTax",
}
CART_SHIPPING_CALCULATORS = {
    "KR": "apps.carts.calculators.ThresholdShipping",
    "US": "apps.carts.calculators.ThresholdShipping",
}
# Called (request, user) by the storefront sign-in right after login(): the guest cart merge.
ACCOUNTS_LOGIN_HOOKS = ["apps.carts.web.merge_guest_cart_on_login"]
CELERY_BEAT_SCHEDULE["carts-prune"] = {
    "task": "joopang.carts.carts_prune",
    "schedule": 60 * 60,
}

# --- Wallet and payment provider (issue 19, ADR 0008) ---------------------------------------
# The payment provider's HTTP API. By default the built-in sandbox (``manage.py
# payment_sandbox``, started by ``make run``); point it at a real provider's adapter in prod.
PAYMENT_PROVIDER_URL = env_str("PAYMENT_PROVIDER_URL", "http://127.0.0.1:8765")
PAYMENT_PROVIDER_NAME = env_str("PAYMENT_PROVIDER_NAME", "sandbox")
PAYMENT_PROVIDER_CONNECT_TIMEOUT = float(env_str("PAYMENT_PROVIDER_CONNECT_TIMEOUT", "2"))
PAYMENT_PROVIDER_READ_TIMEOUT = float(env_str("PAYMENT_PROVIDER_READ_TIMEOUT", "5"))
# Retries of the read-only status call: attempts in all, and the backoff's first wait/cap.
PAYMENT_PROVIDER_RETRY_ATTEMPTS = env_int("PAYMENT_PROVIDER_RETRY_ATTEMPTS", 3)
PAYMENT_PROVIDER_RETRY_BASE_SECONDS = float(env_str("PAYMENT_PROVIDER_RETRY_BASE_SECONDS", "0.2"))
PAYMENT_PROVIDER_RETRY_MAX_SECONDS = float(env_str("PAYMENT_PROVIDER_RETRY_MAX_SECONDS", "2"))
# The breaker opens after this many consecutive failures and probes again after the reset.
PAYMENT_BREAKER_FAIL_MAX = env_int("PAYMENT_BREAKER_FAIL_MAX", 5)
PAYMENT_BREAKER_RESET_SECONDS = env_int("PAYMENT_BREAKER_RESET_SECONDS", 30)
# The sandbox's fault mode at start (ok, slow, fail, timeout, lost, flap); tests switch it live.
PAYMENT_SANDBOX_FAULT = env_str("PAYMENT_SANDBOX_FAULT", "ok")
# A charge whose outcome is unknown is asked about after this many seconds; one the provider
# has never heard of is dropped once it is older than the second value (its request can no
# longer arrive). Reconciliation flags charges pending longer than the third.
PAYMENT_CHARGE_SETTLE_AFTER_SECONDS = env_int("PAYMENT_CHARGE_SETTLE_AFTER_SECONDS", 30)
PAYMENT_CHARGE_DROP_AFTER_SECONDS = env_int("PAYMENT_CHARGE_DROP_AFTER_SECONDS", 120)
PAYMENT_CHARGE_OVERDUE_SECONDS = env_int("PAYMENT_CHARGE_OVERDUE_SECONDS", 15 * 60)
# Most saved payment methods per member.
PAYMENT_METHODS_MAX = env_int("PAYMENT_METHODS_MAX", 10)
CELERY_BEAT_SCHEDULE["payments-charges-settle"] = {
    "task": "joopang.payments.charges_settle_pending",
    "schedule": 60,
}
CELERY_BEAT_SCHEDULE["payments-wallets-reconcile"] = {
    "task": "joopang.payments.wallets_reconcile",
    "schedule": 60 * 60,
}
METRICS_REFRESH_HOOKS.append("apps.payments.metrics.gauges_refresh")

# --- Orders (issue 20, ADR 0009) --------------------------------------------------------------
# Unpaid orders are cancelled by this sweep alone, within this many seconds of their pay-by
# time: one indexed query every few seconds, instead of a countdown task per order (a
# broker message, an ETA the worker holds in memory until then, and a run that finds most
# orders paid: at flash-sale volume that is the worker's whole day).
ORDERS_EXPIRE_SWEEP_SECONDS = env_int("ORDERS_EXPIRE_SWEEP_SECONDS", 5)
CELERY_BEAT_SCHEDULE["orders-expire-due"] = {
    "task": "joopang.orders.orders_expire_due",
    "schedule": ORDERS_EXPIRE_SWEEP_SECONDS,
}
CELERY_BEAT_SCHEDULE["orders-payments-settle"] = {
    "task": "joopang.orders.order_payments_settle",
    "schedule": 60,
}
CELERY_BEAT_SCHEDULE["orders-refunds-send-pending"] = {
    "task": "joopang.orders.order_refunds_send_pending",
    "schedule": 5 * 60,
}
# The seller named on KR e-receipts and order e-mails (per market; set the real ones in env).
BUSINESS_DETAILS = {
    "KR": {
        "name": env_str("BUSINESS_KR_NAME", "주식회사 주팡"),
        "registration_number": env_str("BUSINESS_KR_REGISTRATION", "000-00-00000"),
        "representative": env_str("BUSINESS_KR_REPRESENTATIVE", "대표자"),
        "address": env_str("BUSINESS_KR_ADDRESS", "서울특별시 중구 세종대로 110"),
        "phone": env_str("BUSINESS_KR_PHONE", "1588-0000"),
    },
    "US": {
        "name": env_str("BUSINESS_US_NAME", "Joopang Inc."),
        "address": env_str("BUSINESS_US_ADDRESS", "1 Market Street, Newark, NJ"),
        "phone": env_str("BUSINESS_US_PHONE", "+1-800-000-0000"),
    },
}

# --- Notifications (issue 20 item 7) ----------------------------------------------------------
# Django's e-mail framework: the console backend in development (mails printed by the worker),
# SMTP in production (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend + EMAIL_HOST...).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Joopang <no-reply@joopang.test>")
# Links in mails point here.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Events older than this are not mailed any more (the sweep looks back this far).
NOTIFICATIONS_WINDOW_MINUTES = env_int("NOTIFICATIONS_WINDOW_MINUTES", 30)
CELERY_BEAT_SCHEDULE["notifications-send-due"] = {"task": "joopang.notifications.send_due", "schedule": 10}

# --- Coupons (issue 21, ADR 0010) -------------------------------------------------------------
CELERY_BEAT_SCHEDULE["coupons-expire-due"] = {"task": "joopang.coupons.coupons_expire_due", "schedule": 600}

# --- Data platform: the outbox relay (issue 22, ADR 0011) -------------------------------------
# Where the relay POSTs batches of events (a JSON array), and the secret it signs them with
# (Joopang-Signature: v1=<hex HMAC-SHA256 of "timestamp.body">). With no URL the relay does
# nothing: events wait in the outbox (pending) and the pull feed still serves them.
DATA_PLATFORM_WEBHOOK_URL = env_str("DATA_PLATFORM_WEBHOOK_URL")
DATA_PLATFORM_WEBHOOK_SECRET = env_str("DATA_PLATFORM_WEBHOOK_SECRET")
DATA_PLATFORM_CONNECT_TIMEOUT = float(env_str("DATA_PLATFORM_CONNECT_TIMEOUT", "3"))
DATA_PLATFORM_READ_TIMEOUT = float(env_str("DATA_PLATFORM_READ_TIMEOUT", "10"))
# Events per webhook call, and how long a claim is the relay's (past it another relay takes
# the batch over; keep it well above connect + read timeout).
DATA_PLATFORM_BATCH_SIZE = env_int("DATA_PLATFORM_BATCH_SIZE", 100)
DATA_PLATFORM_LEASE_SECONDS = float(env_str("DATA_PLATFORM_LEASE_SECONDS", "60"))
# Failed calls: the next attempt is drawn uniformly in [0, min(max, base * 2^attempts)]
# seconds (exponential backoff, full jitter); after MAX_ATTEMPTS calls an event is failed
# (visible in the ops page and the stats; a redelivery queues it again).
DATA_PLATFORM_BACKOFF_BASE_SECONDS = float(env_str("DATA_PLATFORM_BACKOFF_BASE_SECONDS", "1"))
DATA_PLATFORM_BACKOFF_MAX_SECONDS = float(env_str("DATA_PLATFORM_BACKOFF_MAX_SECONDS", "600"))
DATA_PLATFORM_MAX_ATTEMPTS = env_int("DATA_PLATFORM_MAX_ATTEMPTS", 15)
# Circuit breaker: open after this many consecutive failed calls (5xx, 429, timeouts,
# connection errors); one probe after the reset. While open, claimed batches are given back
# without an attempt and tried again after CIRCUIT_RETRY_SECONDS.
DATA_PLATFORM_BREAKER_FAIL_MAX = env_int("DATA_PLATFORM_BREAKER_FAIL_MAX", 5)
DATA_PLATFORM_BREAKER_RESET_SECONDS = float(env_str("DATA_PLATFORM_BREAKER_RESET_SECONDS", "30"))
DATA_PLATFORM_CIRCUIT_RETRY_SECONDS = float(env_str("DATA_PLATFORM_CIRCUIT_RETRY_SECONDS", "5"))
# One relay run drains batches until none is due or this many seconds have passed.
DATA_PLATFORM_RELAY_TIME_BUDGET_SECONDS = float(env_str("DATA_PLATFORM_RELAY_TIME_BUDGET_SECONDS", "50"))
# A commit that published events queues one relay run, at most one per this many seconds
# per flag holder (Redis: the whole deployment); the beat sweep catches up on anything else.
DATA_PLATFORM_WAKE_DEBOUNCE_SECONDS = float(env_str("DATA_PLATFORM_WAKE_DEBOUNCE_SECONDS", "2"))
# Celery queue of the relay's task ("" = the default queue).
DATA_PLATFORM_RELAY_QUEUE = env_str("DATA_PLATFORM_RELAY_QUEUE")
# Delivered events (and their attempt log) are kept this many days, so the data platform can
# ask for any of them again; beat prunes older ones daily. Pending and failed ones are kept.
DATA_PLATFORM_RETENTION_DAYS = env_int("DATA_PLATFORM_RETENTION_DAYS", 15)
# check_invariants: an undelivered event older than this (seconds) is a breach when a webhook
# is set; 0 = max attempts x max backoff.
INVARIANTS_OUTBOX_HORIZON_SECONDS = env_int("INVARIANTS_OUTBOX_HORIZON_SECONDS", 0) or None
CELERY_BEAT_SCHEDULE["integrations-relay-sweep"] = {
    "task": "joopang.integrations.relay_run",
    "schedule": env_int("DATA_PLATFORM_SWEEP_SECONDS", 5),
    # A sweep still queued when the next one is due is dropped, not piled up behind a drain.
    "options": {"expires": env_int("DATA_PLATFORM_SWEEP_SECONDS", 5)},
}
CELERY_BEAT_SCHEDULE["integrations-outbox-prune"] = {
    "task": "joopang.integrations.outbox_prune",
    "schedule": 60 * 60 * 24,
}
METRICS_REFRESH_HOOKS.append("apps.integrations.metrics.gauges_refresh")

# --- Analytics (issue 23): daily aggregates and reports -----------------------------------------
# Beat asks every ANALYTICS_REFRESH_SECONDS which market-local days have ended (the market's
# midnight) and builds them once settled: SETTLE_MINUTES after midnight, so payments and refunds
# committing just after it with an earlier time are in. Days of the last CATCH_UP_DAYS that are
# missing or were built too early are rebuilt too (beat was down). Older days:
# ``manage.py rebuild_aggregates --from --to``. The reports API answers at most
# REPORT_MAX_DAYS days per request.
ANALYTICS_SETTLE_MINUTES = env_int("ANALYTICS_SETTLE_MINUTES", 5)
ANALYTICS_CATCH_UP_DAYS = env_int("ANALYTICS_CATCH_UP_DAYS", 7)
ANALYTICS_REPORT_MAX_DAYS = env_int("ANALYTICS_REPORT_MAX_DAYS", 366)
CELERY_BEAT_SCHEDULE["analytics-aggregates-refresh"] = {
    "task": "joopang.analytics.aggregates_refresh_due",
    "schedule": env_int("ANALYTICS_REFRESH_SECONDS", 300),
}
# The back office's dashboard (apps/analytics/dashboard): each section is cached this many
# seconds per markets, language and time zone (0: never; nothing invalidates it earlier), and
# lists a paid order as "not fulfilled" to customer service after this many hours.
DASHBOARD_CACHE_SECONDS = env_int("DASHBOARD_CACHE_SECONDS", 60)
DASHBOARD_UNFULFILLED_AFTER_HOURS = env_int("DASHBOARD_UNFULFILLED_AFTER_HOURS", 48)

# --- Celery queues (issue 25 item 5): one queue per kind of work, so each scales alone ---------
# A worker started without -Q consumes every queue below (make run, the bench, docker: one
# worker does everything, as before); an operator scales one kind with its own workers, e.g.
# ``celery -A joopang worker -Q outbox`` (docs/scaling.md). Tasks not named here go to the
# default queue. tests/ops/test_celery_queues.py holds every task and beat entry to a queue.
from kombu import Queue as _Queue  # noqa: E402

CELERY_TASK_DEFAULT_QUEUE = "celery"
#: kind -> queue name. The outbox's is DATA_PLATFORM_RELAY_QUEUE when that is set.
TASK_QUEUE_NAMES = {
    "default": CELERY_TASK_DEFAULT_QUEUE,
    # time-critical state changes: held stock and unpaid orders must be released on time
    "expiry": "expiry",
    # the outbox relay: its backlog must not delay expiry, nor an expiry burst delay delivery
    "outbox": DATA_PLATFORM_RELAY_QUEUE or "outbox",
    # long, heavy reads that may run late: aggregates, rankings, reconciliation
    "reports": "reports",
}
TASK_KINDS = {
    "expiry": [
        "joopang.inventory.reservation_expire",
        "joopang.inventory.reservations_expire_sweep",
        "joopang.orders.order_expire",
        "joopang.orders.orders_expire_due",
        "joopang.coupons.coupons_expire_due",
    ],
    "outbox": ["joopang.integrations.relay_run"],
    "reports": [
        "joopang.analytics.aggregates_refresh_due",
        "joopang.catalog.popularity_refresh",
        "joopang.payments.wallets_reconcile",
    ],
}
CELERY_TASK_QUEUES = [_Queue(name, routing_key=name) for name in dict.fromkeys(TASK_QUEUE_NAMES.values())]
CELERY_TASK_ROUTES = {
    task: {"queue": TASK_QUEUE_NAMES[kind]} for kind, tasks in TASK_KINDS.items() for task in tasks
}
