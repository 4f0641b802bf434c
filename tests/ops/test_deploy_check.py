"""`manage.py check --deploy` is clean under production settings, and they refuse bad config."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "joopang.settings.prod",
    "SECRET_KEY": "k" * 20 + "-a-long-random-production-secret-for-the-check-0123456789",
    "ALLOWED_HOSTS": "shop.joopang.example",
    "FIELD_ENCRYPTION_KEYS": "x2PEZ7u7vPp0CwGv3lV6w8m0Yj8o2b1mKc2s9Jm1Kxs=",
}


def _manage(*args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    skip = {
        "DATABASE_URL",
        "DJANGO_SETTINGS_MODULE",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    }  # the last: set by tests/e2e
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env.update(PROD_ENV)
    env.update(extra or {})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_reports_nothing(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", extra={"VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_settings_refuse_a_missing_or_weak_secret_key(tmp_path):
    weak = _manage("check", extra={"SECRET_KEY": "short", "VAR_DIR": str(tmp_path)})
    assert weak.returncode != 0
    assert "SECRET_KEY" in weak.stderr
    no_hosts = _manage("check", extra={"ALLOWED_HOSTS": "", "VAR_DIR": str(tmp_path)})
    assert no_hosts.returncode != 0
    assert "ALLOWED_HOSTS" in no_hosts.stderr
