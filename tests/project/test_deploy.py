"""The deployment example (deploy/Procfile) runs only commands and options that exist.

Its processes themselves (three receivers and two workers on one PostgreSQL, killed and
restarted) are exercised by the cluster soak in tests/soak/cluster.py.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from cronofy_avail.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "deploy" / "Procfile"


def processes() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for raw in PROCFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        assert sep, f"not a Procfile line: {line!r}"
        assert name.isidentifier(), name
        assert name not in found, f"{name} twice"
        found[name] = shlex.split(command)
    return found


def test_the_procfile_runs_receivers_and_workers_with_real_options() -> None:
    procs = processes()
    kinds = sorted(argv[1] for argv in procs.values())
    assert kinds == ["serve", "serve", "worker"]  # one worker per Cronofy application
    parser = build_parser()
    ports = set()
    for argv in procs.values():
        assert argv[0] == "cronofy-avail"
        args = parser.parse_args(argv[1:])  # exits (fails the test) on an unknown option
        assert args.command == argv[1]
        if args.command == "serve":
            ports.add(args.port)
    assert len(ports) == 2  # two receivers on one machine need two ports
