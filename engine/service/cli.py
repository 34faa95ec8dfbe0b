"""The engine's commands: `serve`, `submit`, `status`, `jobs`, `cancel`, `keys create`.
Nothing here imports torch: the server's workers do, in their own processes."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict

from .. import shotspec
from ..config import Config


def run_engine_command(arguments: argparse.Namespace, config: Config) -> int:
    if arguments.command == "keys":
        from .keys import create_keys

        public, secret = create_keys(arguments.dir, arguments.name)
        print("public key (share it): %s\nsecret key (keep it private): %s" % (public, secret))
        return 0
    if arguments.command == "serve":
        from .server import serve

        serve(config, bind=arguments.bind, devices=arguments.devices, sandbox_roots=arguments.sandbox,
              journal_dir=arguments.journal, drain_s=arguments.drain, preload=not arguments.no_preload)
        return 0
    from ..client import EngineClient

    with EngineClient.from_settings(config.engine, endpoint=arguments.engine) as client:
        if arguments.command == "submit":
            return _submit(client, arguments, config)
        if arguments.command == "status":
            record = client.status(arguments.job_id)
            _print(arguments, record, describe(record))
        elif arguments.command == "cancel":
            record = client.cancel(arguments.job_id)
            _print(arguments, record, describe(record))
        else:
            records = client.jobs(arguments.state, everyone=arguments.all)
            _print(arguments, records, "\n".join(describe(record) for record in records) or "no jobs")
    return 0


def _submit(client, arguments: argparse.Namespace, config: Config) -> int:
    spec = shotspec.load(arguments.spec, config)  # relative paths resolve here, against the spec file
    if not arguments.wait:
        job_id = client.submit(spec, job_id=arguments.job_id, priority=arguments.priority)
        _print(arguments, {"job_id": job_id}, job_id)
        return 0
    from ..client import run_job
    from ..progress_bar import ProgressBar  # tqdm when present, else plain lines

    with ProgressBar(enabled=not arguments.quiet) as bar:  # --timeout stops the wait; the job runs on
        ended = run_job(client, spec, job_id=arguments.job_id, priority=arguments.priority,
                        on_event=lambda _job, event: bar.update(event), timeout_s=arguments.timeout)
    _print(arguments, ended["record"], describe(ended["record"]))
    return 0


def describe(record: Dict[str, Any]) -> str:
    """One line per job, then one per published sequence."""
    progress = record.get("progress") or {}
    line = "%s  %s  %s" % (record["job_id"], record.get("shot", ""), record["state"])
    if record["state"] == "running" and progress.get("total"):
        line += "  %s %d%%" % (progress.get("stage", ""), 100 * progress["done"] // progress["total"])
    if record.get("error"):
        line += "  %s: %s" % (record["error"].get("code"), record["error"].get("message"))
    lines = [line]
    for result in record.get("results") or []:
        for pass_name, path in sorted(result.get("sequences", {}).items()):
            lines.append("  %s seed %s %s: %s" % (result["version_name"], result["seed"], pass_name, path))
    return "\n".join(lines)


def _print(arguments: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(arguments, "json", False):
        json.dump(data, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(text)
