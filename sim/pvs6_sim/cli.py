"""`pvs6-sim`: run the PVS6 simulator as a process (for the demo, manual poking, benchmarks).

Prints the URL it listens on as its first stdout line (flushed) so a parent process can read it, then
serves until SIGINT or SIGTERM. Every option has a PVS6_SIM_* environment twin.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import replace

from .clock import SimClock
from .config import PvsConfig, SimConfig
from .faults import parse_fault, parse_time
from .model import Simulator
from .server import SimServer

LOGGER = logging.getLogger(__name__)


def _env(name: str, default: str) -> str:
    return os.environ.get(f"PVS6_SIM_{name}", default)


def _tls_env() -> bool | None:
    """PVS6_SIM_TLS: "1" on, "0" off, unset or empty: as the firmware does."""
    value = _env("TLS", "")
    return None if value == "" else value == "1"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and `--help`)."""
    parser = argparse.ArgumentParser(prog="pvs6-sim", description="Serve a simulated SunPower PVS6.")
    parser.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env("PORT", "0")), help="0 = any free port")
    parser.add_argument("--api", choices=("dl_cgi", "varserver", "both"), default=_env("API", "both"))
    parser.add_argument("--build", type=int, default=None,
                        help="firmware build (default 61839; 61845 for varserver)")
    parser.add_argument("--start", default=_env("START", ""),
                        help="simulated start, ISO 8601 UTC (default 2025-06-01T04:00Z)")
    parser.add_argument("--speed", type=float, default=float(_env("SPEED", "1")),
                        help="simulated seconds per real second; 0 = manual (drive it with POST /_sim/clock)")
    parser.add_argument("--seed", type=int, default=int(_env("SEED", "1")))
    parser.add_argument("--weather", choices=("clear", "cloudy", "snow", "mixed"),
                        default=_env("WEATHER", "clear"))
    parser.add_argument("--panels", type=int, default=int(_env("PANELS", "12")))
    parser.add_argument("--session-ttl", type=float, default=float(_env("SESSION_TTL", "360")), help="[real s]")
    parser.add_argument("--nightly-reboot-hour", type=int, default=None, help="UTC hour of a nightly reboot")
    parser.add_argument("--tls", action=argparse.BooleanOptionalAction, default=_tls_env(),
                        help="serve HTTPS beside plain HTTP (default: whenever the firmware has a varserver)")
    parser.add_argument("--plain-varserver", action="store_true", default=_env("PLAIN_VARSERVER", "") == "1",
                        help="let the varserver answer over plain HTTP too (real 2025 firmware does not)")
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC",
                        help="e.g. dead:3@2025-06-01T10:00Z, weak:5:0.75, breaker:2, hang, http500:3, slow:4")
    parser.add_argument("--log-level", default=_env("LOG_LEVEL", "INFO"))
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Turn parsed arguments into a `SimConfig`."""
    base = SimConfig()
    pvs = PvsConfig(nightly_reboot_hour_utc=args.nightly_reboot_hour)
    if args.build is not None:
        pvs = replace(pvs, build=args.build, swver_date="2025.09.04" if args.build >= 61840 else pvs.swver_date)
    array = replace(base.array, panels=args.panels)
    start = parse_time(args.start) if args.start else base.start
    return SimConfig(array=array, pvs=pvs, start=start, seed=args.seed, default_weather=args.weather,
                     api=args.api, session_ttl_s=args.session_ttl)


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGINT/SIGTERM; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_args(args)
        faults = [parse_fault(spec) for spec in args.fault]
    except ValueError as err:
        print(f"pvs6-sim: {err}", file=sys.stderr)
        return 2
    sim = Simulator(config, SimClock(config.start, speed=args.speed))
    for fault in faults:
        sim.inject(fault)
    try:
        server = SimServer(sim, host=args.host, port=args.port, tls=args.tls, plain_varserver=args.plain_varserver)
    except ValueError as err:
        print(f"pvs6-sim: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with server:
        print(server.url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
