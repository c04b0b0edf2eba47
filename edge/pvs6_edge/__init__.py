"""PVS6 Sentinel edge: runs on the Raspberry Pi, polls the PVS6, spools raw JSON and uploads it.

Standard library plus ``requests`` only: nothing here may import pandas or any Google library.
Public API: :func:`pvs6_edge.config.load_config`, :class:`pvs6_edge.runner.EdgeRunner`, the ``pvs6-edge`` CLI
(:func:`pvs6_edge.cli.main`); errors derive from :class:`pvs6_edge.errors.EdgeError`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
