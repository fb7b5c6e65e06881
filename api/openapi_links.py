"""OpenAPI links (3.1 `responses.<code>.links`): which response's id feeds which operation's path parameter.

They document how the API is walked (open a case → record an item → act on the item → answer the transfer), and
they let stateful testers (schemathesis' state machine) reach real objects instead of random ids. Names are
inferred for cases and transfers by the tools already; items live under /items/{item_id}, away from the
/cases/{case_id}/items that creates them, so the links are written here, generated from the routes.
"""

from __future__ import annotations

from typing import Any

# (path, method, status) of an operation whose JSON body's `id` is the value of a path parameter elsewhere.
PRODUCERS: dict[str, tuple[str, str, str]] = {
    "case_id": ("/cases", "post", "201"),
    "item_id": ("/cases/{case_id}/items", "post", "201"),
    "transfer_id": ("/items/{item_id}/transfers", "post", "201"),
}


def add_links(schema: dict[str, Any]) -> dict[str, Any]:
    """Add a link from each producer's response to every operation taking its id in the path (in place)."""
    paths = schema.get("paths", {})
    for param, (path, method, status) in PRODUCERS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        links = response.setdefault("links", {})
        for target_path, operations in paths.items():
            if "{" + param + "}" not in target_path:
                continue
            for target_method, operation in operations.items():
                op_id = operation.get("operationId")
                if not op_id:
                    continue
                links[op_id] = {"operationId": op_id, "parameters": {param: "$response.body#/id"},
                                "description": f"the `id` in this response is `{param}` of {target_method.upper()} "
                                               f"{target_path}"}
    return schema
