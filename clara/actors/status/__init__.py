"""The status endpoint's actor: serves /status, /metrics, /readyz and the page while it runs."""

from .endpoint import GetStatusUrl, StatusEndpoint

__all__ = ["GetStatusUrl", "StatusEndpoint"]
