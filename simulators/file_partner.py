"""A partner that delivers files: into the hub's inbox directory, or through the hub's upload API.

    python -m simulators.file_partner --inbox DIR FILE...            # copy each file in, atomically
    python -m simulators.file_partner --upload URL --token T --source S FILE...   # PUT each to the API
        [--every SECONDS]   # one file per interval instead of all at once

Into an inbox a file is written under a temporary name (``.NAME.part``) and renamed when complete, as the
hub's inbox expects (:mod:`hub.sync.inbox`). Uploads go to ``PUT {URL}/api/v1/sources/{S}/files/{NAME}``
with the partner's token. It prints one line per delivery.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx


def drop(inbox: Path, path: Path) -> Path:
    """Write ``path`` into ``inbox`` whole, or not at all (a temporary name, then a rename)."""
    partial = inbox / f".{path.name}.part"
    partial.write_bytes(path.read_bytes())
    target = inbox / path.name
    os.replace(partial, target)
    return target


def upload(url: str, token: str, source: str, path: Path) -> dict:
    response = httpx.put(f"{url.rstrip('/')}/api/v1/sources/{source}/files/{path.name}", content=path.read_bytes(),
                         headers={"Authorization": f"Bearer {token}"}, timeout=600)
    response.raise_for_status()
    return response.json()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--inbox", type=Path, help="the source's inbox directory")
    where.add_argument("--upload", metavar="URL", help="the hub's base URL")
    parser.add_argument("--token", help="the partner's API token (with --upload)")
    parser.add_argument("--source", help="the source to upload to (with --upload)")
    parser.add_argument("--every", type=float, default=0.0, help="seconds between deliveries")
    args = parser.parse_args(argv)
    if args.upload and not (args.token and args.source):
        parser.error("--upload needs --token and --source")
    for number, path in enumerate(args.files):
        if number and args.every:
            time.sleep(args.every)
        if args.inbox:
            print(f"delivered {drop(args.inbox, path)}", flush=True)
        else:
            print(f"uploaded {path.name}: {upload(args.upload, args.token, args.source, path)}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
