"""The demo's web server and task cluster side by side, stopped together.

Ctrl-C or SIGTERM stops both: gracefully first, and whatever is still running
after the grace period (a task cluster finishing a task, waiting for a lock) is
killed with its whole process group. Tasks are delivered again after a kill.
"""

import contextlib
import os
import signal
import subprocess  # nosec B404: it starts this project's own manage.py, nothing else
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

GRACE_SECONDS = 7.0
POLL_SECONDS = 0.2


class Command(BaseCommand):
    help = "Run the web server and the task cluster of the demo; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--grace", type=float, default=GRACE_SECONDS,
                            help="Seconds to stop gracefully before killing.")  # fmt: skip

    def handle(self, *args, addrport, grace, **options):
        if not settings.DEBUG:
            raise CommandError("serve_demo runs Django's development server: DEBUG=1 only.")
        stop = []
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda signum, frame: stop.append(signum))

        site = f"http://{addrport}" if ":" in addrport else f"http://127.0.0.1:{addrport}"
        self.stdout.write(
            f"\nServing {site}/ (partners) and {site}/admin/ (staff), with the task cluster "
            "beside it. Ctrl-C stops both."
        )
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        # Each child leads its own process group: the terminal's Ctrl-C reaches this
        # process only, which stops the children in order and can kill a group whole.
        cluster = subprocess.Popen(  # nosec B603: a fixed argv (this Python, manage.py)
            [*manage, "qcluster"], start_new_session=True
        )
        web = subprocess.Popen(  # nosec B603: a fixed argv (this Python, manage.py)
            [*manage, "runserver", addrport, "--noreload"], start_new_session=True
        )
        children = {"task cluster": cluster, "web server": web}
        while not stop and all(child.poll() is None for child in children.values()):
            time.sleep(POLL_SECONDS)

        exited = [name for name, child in children.items() if child.returncode is not None]
        if exited and not stop:
            self.stderr.write(f"The {exited[0]} exited; stopping the demo.")
        self.stdout.write("Stopping the web server and the task cluster…")
        # Graceful: the main processes only; the cluster's stops its workers in order.
        _signal(web.pid, signal.SIGINT)
        _signal(cluster.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(c.poll() is None for c in children.values()):
            time.sleep(POLL_SECONDS)
        for name, child in children.items():
            if child.poll() is None:
                self.stderr.write(f"The {name} did not stop within {grace:g} s: killed.")
            # The cluster's workers too, should its main process have gone first.
            _signal(-child.pid, signal.SIGKILL)
            child.wait()
        self.stdout.write("Stopped.")


def _signal(pid, signum):
    """Send `signum` to process `pid` (to its whole group when negative), if it is there."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
