"""HTTP: the status endpoint (/status, /healthz, /readyz, /metrics, and a page at /).

Served by hypercorn's trio worker inside Clara's own trio run; the ``StatusEndpoint`` actor
(``clara.actors.status``) owns the server as a supervised child of the root.
"""

from ._app import OAUTH_CALLBACK_PATH, make_status_app
from ._context import StatusContext
from ._document import OVERVIEW, TREE, StatusDocument, StatusQuery
from ._guard import BearerTokenGuard
from ._masking import Masker
from ._metrics import CONTENT_TYPE, TreeMetrics
from ._query import BadQuery, parse_status_query
from ._server import serve_http
from ._stream import build_status

__all__ = [
    "CONTENT_TYPE",
    "OAUTH_CALLBACK_PATH",
    "OVERVIEW",
    "TREE",
    "BadQuery",
    "BearerTokenGuard",
    "Masker",
    "StatusContext",
    "StatusDocument",
    "StatusQuery",
    "TreeMetrics",
    "build_status",
    "make_status_app",
    "parse_status_query",
    "serve_http",
]
