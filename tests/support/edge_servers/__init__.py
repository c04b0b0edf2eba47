"""Loopback servers for the edge's fault tests: a misbehaving PVS6 and a fake ingest that checks the contract.

Both bind 127.0.0.1 port 0 in a thread and are context managers; behaviour is switched by plain attributes
while they run (``pvs.mode = "hang"``, ``ingest.mode = "503"``). They speak real HTTP over real sockets, so the
edge's timeouts, truncated reads and connection errors are exercised for real.

The package keeps each part under 400 lines: `pvs` (`FakePvs`, `device_list`), `ingest` (`FakeIngest`), `harness`
(`write_config`, `SECRET`, `FakeClock`, `pvs_and_ingest`) and `reply` (how both write an answer). Import from here.
"""

from tests.support.edge_servers.harness import SECRET, FakeClock, pvs_and_ingest, write_config
from tests.support.edge_servers.ingest import FakeIngest, problem_code
from tests.support.edge_servers.pvs import PVS_MODES, FakePvs, device_list

__all__ = ["PVS_MODES", "SECRET", "FakeClock", "FakeIngest", "FakePvs", "device_list", "problem_code",
           "pvs_and_ingest", "write_config"]
