"""NUL characters anywhere in a request are a 422 problem, never a 500 (PostgreSQL refuses them in text)."""

from __future__ import annotations

from policies.permissions import Role
from tests.api_helpers import api_harness


def test_nul_in_query_path_or_json_is_422(db_url, tmp_path):
    h = api_harness(db_url, tmp_path)
    try:
        auditor = h.user(Role.AUDITOR)
        examiner = h.user(Role.EXAMINER)
        for resp in (
            h.client.get("/audit/access-log", params={"case_id": "C\x00"}, headers=auditor.headers),
            h.client.get("/cases/C%00", headers=examiner.headers),
            h.client.post("/cases", content=b'{"jurisdiction": "de\\u0000fault"}',
                          headers={**examiner.headers, "content-type": "application/json"}),
        ):
            assert resp.status_code == 422, resp.text
            assert resp.headers["content-type"].startswith("application/problem+json")
            assert "NUL" in resp.json()["detail"]
    finally:
        h.close()
