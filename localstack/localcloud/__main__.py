"""``python -m localcloud up``: run the whole local cloud in the foreground until Ctrl-C / SIGTERM.

``python -m localcloud mail [--limit N] [--json]``: the latest emails and SMS sent through the AWS emulator.

``python -m localcloud invoke NAME [--payload JSON]``: run one function of the running local cloud now.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from localcloud.cloud import LocalCloud, LocalCloudConfig


def _up(args: argparse.Namespace) -> int:
    cloud = LocalCloud(LocalCloudConfig.from_env(seed=not args.no_seed))
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    cloud.start()
    try:
        endpoints = cloud.endpoints()
        print("\nSmartCourse local cloud is up:")
        for name, url in endpoints["apis"].items():
            print(f"  {name:<10} {url}   (Swagger UI: {url}/docs)")
        print(f"  postgres   {endpoints['postgres']}")
        print(f"  kafka      {endpoints['kafka']}")
        print(f"  aws        {endpoints['aws']}   ({endpoints['aws_emulator']})")
        print(f"  lambda     {endpoints['lambda']}   (Lambda Invoke API: AWS_ENDPOINT_URL_LAMBDA)")
        print(f"  pages      {endpoints['pages']}   (mail links: /verify-email, /reset-password)")
        print(f"Endpoints written to {cloud.config.state_dir / 'endpoints.json'}. Ctrl-C stops everything.\n",
              flush=True)
        stopping.wait()
    finally:
        print("stopping…", flush=True)
        cloud.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="localcloud", description="SmartCourse's Docker-free local cloud")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start everything in the foreground")
    up.add_argument("--no-seed", action="store_true", help="skip the demo data")
    mail = commands.add_parser("mail", help="list the latest emails and SMS sent through the AWS emulator")
    mail.add_argument("--limit", type=int, default=10, help="how many of each (default 10)")
    mail.add_argument("--json", action="store_true", help="JSON instead of text")
    mail.add_argument("--endpoint", help="the emulator (default: AWS_ENDPOINT_URL, else .localcloud/endpoints.json)")
    invoke = commands.add_parser("invoke", help="run one function of the running local cloud now (synchronous)")
    invoke.add_argument("name", help="the catalogue name, e.g. analytics-weekly-digests")
    invoke.add_argument("--payload", help="the event, as JSON (default {})")
    args = parser.parse_args(argv)
    if args.command == "invoke":
        from localcloud.invoke import main as invoke_main

        return invoke_main(args.name, args.payload)
    if args.command == "mail":
        from localcloud.mailbox import main as mail_main

        return mail_main(args.limit, args.json, args.endpoint)
    return _up(args)


if __name__ == "__main__":
    sys.exit(main())
