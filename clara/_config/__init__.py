"""What ``clara.config`` is made of: the settings Structs, value parsers and the variables.

Private: import from ``clara.config``, the public face and the only reader of the
environment. The variable tables here are data, merged into one registry (``VARIABLES``).
"""
