"""The ``store`` child: watches whether the database answers (``StoreWatch``)."""

from .watch import StoreWatch, store_subsystem

__all__ = ["StoreWatch", "store_subsystem"]
