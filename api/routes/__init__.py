"""HTTP routers. create_app() includes the `router` of every module listed here."""

ROUTER_MODULES: tuple[str, ...] = (
    "api.routes.system",
    "api.routes.cases",
    "api.routes.admin",
    "api.routes.consent",
    "api.routes.audit",
    "api.routes.evidence",
    "api.routes.reports",
    "api.routes.inbox",
    "api.routes.erasure",
    "api.routes.review",
    "api.routes.funder",
    "api.web.routes",  # the survivor's status page (HTML, public)
    "api.routes.retention",
    "api.routes.advocacy",
    "api.routes.notice",
)
