"""A PVS6 simulator: serves realistic DeviceList and varserver responses for a configurable array."""

__version__ = "0.1.0"
