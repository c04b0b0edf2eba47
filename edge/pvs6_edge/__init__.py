"""PVS6 Sentinel edge: runs on the Raspberry Pi, polls the PVS6, spools raw JSON and uploads it.

Standard library plus ``requests`` only: nothing here may import pandas or any Google library.
"""

__version__ = "0.1.0"
