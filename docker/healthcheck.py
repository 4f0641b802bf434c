"""Docker HEALTHCHECK for the web container: GET /healthz on the local gunicorn.

Sends a Host header Django accepts (the first entry of ALLOWED_HOSTS) and
``X-Forwarded-Proto: https`` as the TLS proxy would, so neither ALLOWED_HOSTS nor the
HTTPS redirect of the production settings turns the probe into a 400 or 301.
Exit 0 = healthy, 1 = unhealthy. Standard library only (the slim image has no curl).
"""

from __future__ import annotations

import os
import sys
import urllib.request


def probe_host() -> str:
    for entry in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = entry.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def main() -> int:
    port = os.environ.get("PORT", "8000")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/healthz",
        headers={"Host": probe_host(), "X-Forwarded-Proto": "https"},
    )
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 - fixed local URL
            return 0 if response.status == 200 else 1
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(f"healthcheck failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
