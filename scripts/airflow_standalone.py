"""Run ``airflow standalone`` so that Ctrl-C stops it and everything it started, within a bounded time.

A terminal's Ctrl-C sends SIGINT to the whole foreground process group. ``airflow standalone`` puts its
components (api-server, scheduler, dag-processor, triggerer) and the LocalExecutor's worker processes
in that group, so they all receive SIGINT at once: the workers die or stop listening while the
scheduler waits to hand them their stop sentinel, and the scheduler (and so make) hangs for good.

This wrapper starts standalone in a session of its own, so only the wrapper receives the terminal's
signal; it then asks standalone alone to stop (SIGINT: standalone stops each component in turn), waits up to
``STOP_SECONDS``, and kills whatever of that session is still alive. ``make airflow`` runs it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

#: how long the components get to stop after Ctrl-C before what is left is killed
STOP_SECONDS = 45


def session_members(sid: int) -> list[int]:
    """PIDs of the live processes of session ``sid`` (a component that changes process group stays in it)."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(name))
    return members


def stop(standalone: subprocess.Popen) -> int:
    """SIGINT standalone alone, wait for its session to empty, SIGKILL what is left; standalone's exit code.

    SIGINT, not SIGTERM: standalone stops its components on KeyboardInterrupt (each one in turn, with
    SIGTERM); on SIGTERM it exits at once and leaves them running.
    """
    if standalone.poll() is None:
        standalone.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_SECONDS
    while session_members(standalone.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = session_members(standalone.pid)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if left:
        print(f"airflow_standalone: {len(left)} process(es) still running after {STOP_SECONDS} s: killed",
              file=sys.stderr, flush=True)
    return standalone.wait()


def main(argv: list[str]) -> int:
    airflow = argv[1] if len(argv) > 1 else "airflow"
    standalone = subprocess.Popen([airflow, "standalone"], start_new_session=True)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            print(f"airflow_standalone: {signal.Signals(signum).name}: stopping Airflow (up to {STOP_SECONDS} s)",
                  file=sys.stderr, flush=True)
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        code = standalone.wait()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        stop(standalone)
        return 130
    stop(standalone)  # standalone ended on its own: leave none of its components behind
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
