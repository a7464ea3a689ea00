"""``cronofy-avail workshop`` as the instructor starts it: its own process, a clean
environment (no ``CRONOFY_*``, ``HOME`` in the test's directory), a free port, the JSON line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def start_workshop(
    tmp_path: Path, *args: str, preexec_fn: Callable[[], None] | None = None
) -> subprocess.Popen[str]:
    """Start the command on 127.0.0.1 and a free port, printing its JSON line first; ``args``
    are more options. The caller reads ``stdout`` and stops it (SIGTERM)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONOFY_")}
    env["HOME"] = str(tmp_path)
    command = [str(Path(sys.executable).parent / "cronofy-avail"), "workshop"]
    command += ["--host", "127.0.0.1", "--port", "0", "--json", *args]
    return subprocess.Popen(  # noqa: S603 - our own command
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
        preexec_fn=preexec_fn,
    )
