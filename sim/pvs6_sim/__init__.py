"""A PVS6 simulator: serves realistic DeviceList and varserver responses for a configurable array.

Public API (see each module for details):

- `SimConfig` (and `ArrayConfig`, `SiteConfig`, `PvsConfig`, `ConsumptionProfile`): the site.
- `Simulator(config, clock)`: the pure model; `device_list(at)`, `varserver_vars(at, match)`,
  `supervisor_info()`, `reading(at)`, `inject(Fault)`, `clear_faults()`, `answering(at)`.
- `SimClock(start, speed)`: simulated time (speed 0 = manual: `set` / `advance`).
- `Fault`, `parse_fault(spec)`: injectable faults (device and transport).
- `run_simulator(config, tls=..., speed=...)` / `SimServer`: the HTTP server (`.url`, `.sim`).
"""

from .clock import SimClock, utc
from .config import ArrayConfig, ConsumptionProfile, PvsConfig, SimConfig, SiteConfig
from .faults import Fault, parse_fault
from .model import Simulator
from .server import SimServer, run_simulator

__version__ = "0.1.0"

__all__ = [
    "ArrayConfig",
    "ConsumptionProfile",
    "Fault",
    "PvsConfig",
    "SimClock",
    "SimConfig",
    "SimServer",
    "Simulator",
    "SiteConfig",
    "parse_fault",
    "run_simulator",
    "utc",
]
