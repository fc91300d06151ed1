"""HTTP: the status endpoint (/status, /healthz, /readyz, /metrics, and a page at /).

Served by hypercorn's trio worker inside Clara's own trio run; the ``StatusEndpoint`` actor
(``clara.actors.status``) owns the server as a supervised child of the root.
"""

from ._app import OAUTH_CALLBACK_PATH, BearerTokenGuard, StatusContext, make_status_app
from ._document import StatusDocument, StatusQuery, build_status
from ._metrics import CONTENT_TYPE, TreeMetrics
from ._query import BadQuery, parse_status_query
from ._server import serve_http

__all__ = [
    "CONTENT_TYPE",
    "OAUTH_CALLBACK_PATH",
    "BadQuery",
    "BearerTokenGuard",
    "StatusContext",
    "StatusDocument",
    "StatusQuery",
    "TreeMetrics",
    "build_status",
    "make_status_app",
    "parse_status_query",
    "serve_http",
]
