"""The registry of environment variables: one ``Var`` per setting, in README order.

The single source for the loader (``clara.config``), ``python -m clara config`` and the
README's table (a test keeps them equal). Adding a setting means adding a field to its area
in ``settings.py`` and a ``Var`` to the area's table: ``core_variables.py`` for the core
areas, ``feature_variables.py`` for the features.
"""

from __future__ import annotations

from .core_variables import CORE_VARIABLES
from .feature_variables import FEATURE_VARIABLES
from .proactive_variables import PROACTIVE_VARIABLES
from .sandbox_variables import SANDBOX_VARIABLES
from .var import Var

__all__ = ["VARIABLES", "Var"]

VARIABLES: tuple[Var, ...] = (
    *CORE_VARIABLES,
    *FEATURE_VARIABLES,
    *SANDBOX_VARIABLES,
    *PROACTIVE_VARIABLES,
)


def _check_unique(variables: tuple[Var, ...]) -> None:
    seen: set[str] = set()
    for var in variables:
        if var.name in seen:
            raise RuntimeError(f"the variable {var.name} is registered twice")
        seen.add(var.name)


_check_unique(VARIABLES)
