"""Persistence: SQLAlchemy 2 models, units of work, repositories, encryption at rest.

The runtime core (``clara.actors._*``, ``clara.supervisors``) never imports this package.
"""
