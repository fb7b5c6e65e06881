"""Container health check: exit 0 when URL answers 200 (Basic auth from PREFECT_API_AUTH_STRING if set)."""

import base64
import os
import sys
import urllib.request


def main() -> int:
    """GET the URL given as the first argument; 0 on HTTP 200, 1 otherwise."""
    req = urllib.request.Request(sys.argv[1])  # noqa: S310 - a fixed in-container http URL
    auth = os.environ.get("PREFECT_API_AUTH_STRING")
    if auth and "/api/" in sys.argv[1]:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=4) as resp:  # noqa: S310
            return 0 if resp.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
