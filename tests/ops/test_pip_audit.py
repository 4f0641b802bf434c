"""Issue 24 item 5: ``pip-audit`` over every pinned requirement (base, prod, dev).

pip-audit asks a vulnerability service (PyPI's JSON API by default, ``PIP_AUDIT_SERVICE=osv``
for OSV) about each pinned ``name==version``. The test fails on any known vulnerability and
names the package, the advisory and the fixed versions. It skips, with the reason, when the
audit could not be made: pip-audit not installed, the service unreachable (offline CI), or
the service knowing none of the pinned versions (a package mirror standing in for pypi.org
answers 404 to its JSON API). The requirement files include each other with ``-r``, which
pip-audit does not follow under ``--no-deps``: the pins of all three are gathered into one
file first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = [ROOT / "requirements" / name for name in ("base.txt", "prod.txt", "dev.txt")]
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-\[\],]*==\S+$")
NETWORK_ERRORS = ("ConnectionError", "ProxyError", "NameResolutionError", "Max retries exceeded", "timed out")


def pinned_requirements() -> list[str]:
    pins = []
    for path in REQUIREMENTS:
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            assert PIN.match(line), f"{path.name}: {line!r} is not pinned with =="
            pins.append(line)
    return pins


def _pip_audit() -> list[str]:
    beside = Path(sys.executable).with_name("pip-audit")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("pip-audit")
    if found is None:
        pytest.skip("pip-audit is not installed (requirements/dev.txt pins it)")
    return [found]


def test_every_requirement_is_pinned():
    pins = pinned_requirements()

    assert len(pins) > 40
    assert any(pin.lower().startswith("django==") for pin in pins)
    assert any(pin.startswith("pip-audit==") for pin in pins)


def test_pinned_requirements_have_no_known_vulnerability(tmp_path):
    command = _pip_audit()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(pinned_requirements()) + "\n")
    report = tmp_path / "audit.json"

    result = subprocess.run(
        [
            *command,
            "--requirement",
            str(requirements),
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--vulnerability-service",
            os.environ.get("PIP_AUDIT_SERVICE", "pypi"),
            "--format",
            "json",
            "--output",
            str(report),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )

    if not report.exists():
        if any(marker in result.stderr for marker in NETWORK_ERRORS):
            pytest.skip(f"the vulnerability service is unreachable: {result.stderr.strip().splitlines()[-1]}")
        raise AssertionError(f"pip-audit failed (exit {result.returncode}): {result.stderr[-2000:]}")
    dependencies = json.loads(report.read_text())["dependencies"]
    audited = [dep for dep in dependencies if "skip_reason" not in dep]
    if not audited:
        reasons = sorted({dep["skip_reason"].split(":")[0] for dep in dependencies})
        pytest.skip(f"the vulnerability service audited none of {len(dependencies)} pins: {reasons}")
    vulnerable = {
        f"{dep['name']}=={dep['version']}": [(vuln["id"], vuln["fix_versions"]) for vuln in dep["vulns"]]
        for dep in audited
        if dep["vulns"]
    }
    assert vulnerable == {}, f"known vulnerabilities (advisory, fixed in): {vulnerable}"
