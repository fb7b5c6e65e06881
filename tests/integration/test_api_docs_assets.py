"""/docs serves Swagger UI from our own files: no external host, and every referenced asset answers 200."""

from __future__ import annotations

import re

import pytest

from tests.api_helpers import api_harness


@pytest.fixture
def h(db_url, tmp_path, clock):
    harness = api_harness(db_url, tmp_path)
    yield harness
    harness.close()


def test_docs_reference_only_local_assets(h) -> None:
    resp = h.client.get("/docs")
    assert resp.status_code == 200
    html = resp.text
    assert "swagger-ui-bundle.js" in html
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", html), "docs load something from another host"
    assert "cdn.jsdelivr" not in html and "unpkg" not in html
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assets = [u for u in urls if u.startswith("/static/")]
    assert len(assets) >= 3, urls  # js, css, favicon
    for url in assets:
        got = h.client.get(url)
        assert got.status_code == 200 and len(got.content) > 0, url
    assert h.client.get("/openapi.json").status_code == 200
    assert h.client.get("/redoc").status_code == 404  # ReDoc only exists from a CDN: not served
