"""Helpers for tests that run a child Python process."""
from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time


def interrupt_after_ready(script: str, wait: float = 1.5) -> tuple[str, float]:
    """Runs `script` in a child Python (from a temporary directory, so that it imports the
    installed pynepcg, not the source tree), sends SIGINT `wait` s after it prints 'ready', and
    returns its output and the seconds from the signal to its exit. The child installs Python's
    SIGINT handler itself: a test run started as a background job of a non-interactive shell (or
    under nohup) passes SIGINT on as ignored, and Python then installs none."""
    script = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n" + script
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         cwd=tempfile.gettempdir())
    try:
        first = p.stdout.readline().strip()
        assert first == "ready", first + p.stdout.read()
        time.sleep(wait)
        t = time.time()
        p.send_signal(signal.SIGINT)
        out = p.communicate(timeout=120)[0]
        return out, time.time() - t
    finally:
        p.kill()
