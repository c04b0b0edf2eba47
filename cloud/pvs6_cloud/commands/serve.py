"""``pvs6-cloud serve``: the Cloud Function app on a local port, under functions-framework."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pvs6_cloud.infra.config import CONFIG_ENV, load_config
from pvs6_cloud.runtime import Runtime, set_runtime

NAME = "serve"
HELP = "run a function (default: ingest) on a local port, exactly as Cloud Functions would"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 = any free port; default 8080)")
    parser.add_argument("--target", default="ingest", help="entry point to serve (default ingest)")


def run(args: argparse.Namespace) -> int:
    from functions_framework import create_app
    from werkzeug.serving import make_server

    config = load_config(args.config)
    if args.config:
        os.environ[CONFIG_ENV] = str(Path(args.config).resolve())
    set_runtime(Runtime(config))
    from pvs6_cloud import functions  # the targets, installed with the package (cloud/main.py is not)

    app = create_app(target=args.target, source=str(Path(functions.__file__).resolve()), signature_type="http")
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"serving {args.target} on http://{args.host}:{server.server_port}/", flush=True)
    sys.stdout.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
