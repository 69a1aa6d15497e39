"""The ``zkml`` command: one module per command group, each a thin wrapper on the Python API.

Nothing in the library imports this package.
"""
