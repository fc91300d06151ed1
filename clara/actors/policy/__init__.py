"""Who may act and how often: shared by the channel, command and MCP families.

- ``is_admin``: a server administrator, Manage Server, alone in a DM, or the admin role.
- ``write_audit``: the audit log's one writer for actors and commands.
- ``UserRates``: per-person token buckets (messages a minute, operations a minute).
"""

from .admin import is_admin, run_audited, write_audit
from .rates import UserRates

__all__ = ["UserRates", "is_admin", "run_audited", "write_audit"]
