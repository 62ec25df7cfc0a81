"""`make demo` as a newcomer runs it: a quiet console, and Ctrl-C stops everything."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
STOP_WITHIN_SECONDS = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


class Demo:
    """`make demo` in a process group of its own, as a terminal would run it."""

    def __init__(self, var_dir, log):
        self.port = free_port()
        self.site = f"http://127.0.0.1:{self.port}"
        self.log, self.var_dir = log, var_dir
        # The demo's own settings: SQLite under var_dir, whatever the test run uses.
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY")}  # fmt: skip
        env.update(PORTAL_VAR_DIR=str(var_dir))
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "demo", f"DEMO_ADDR=127.0.0.1:{self.port}"],
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until_serving(self, timeout=240):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if get(f"{self.site}/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError("make demo did not serve in time:\n" + self.output())

    def alive(self):
        """Every process the demo started, however it was started or reparented: they all
        carry its PORTAL_VAR_DIR in their environment."""
        self.process.poll()
        mark = f"PORTAL_VAR_DIR={self.var_dir}".encode()
        pids = []
        for environ in Path("/proc").glob("[0-9]*/environ"):
            try:
                if mark in environ.read_bytes().split(b"\0"):
                    pids.append(int(environ.parent.name))
            except OSError:
                pass  # gone, or not ours to read
        return pids

    def seconds_to_stop(self, limit=60):
        start = time.monotonic()
        while self.alive() and time.monotonic() - start < limit:
            time.sleep(0.1)
        return time.monotonic() - start

    def output(self):
        return self.log.read_text()

    def kill(self):
        for pid in self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        self._log_file.close()


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory):
    """One demo database for the module: the second `make demo` finds it seeded."""
    return tmp_path_factory.mktemp("demo-var")


@pytest.fixture
def demos(var_dir, tmp_path):
    started = []

    def start(name):
        demo = Demo(var_dir, tmp_path / f"{name}.log")
        started.append(demo)
        return demo

    yield start
    for demo in started:
        demo.kill()


def test_make_demo_prints_what_a_newcomer_needs_and_ctrl_c_stops_it(demos):
    demo = demos("first")
    demo.wait_until_serving()

    status, content_type, body = get(f"{demo.site}/favicon.ico")
    assert (status, content_type) == (200, "image/x-icon")
    assert body == (ROOT / "static" / "root" / "favicon.ico").read_bytes()
    assert get(f"{demo.site}/no-such-page/")[0] == 404
    output = demo.output()
    links = re.findall(r"http://\S+/attest/\S+/", output)
    assert len(links) == 1, output
    status, _, page = get(links[0])
    assert status == 200, page  # a link the demo has not used
    assert b"Outcome Attestation Agreement" in page

    # Ctrl-C in the terminal: SIGINT to the foreground process group.
    os.killpg(demo.process.pid, signal.SIGINT)
    assert demo.seconds_to_stop() < STOP_WITHIN_SECONDS, demo.alive()

    output = demo.output()
    assert "All demo accounts use the password: cascade-demo" in output
    assert "  gold.admin@demo.example" in output
    assert f"Serving {demo.site}/ (partners) and {demo.site}/admin/ (staff)" in output
    assert output.count("Not Found: /no-such-page/") == 1  # each log line once
    for noise in ("Content-Type:", "fontTools", "Applying ", "Enqueued", "Not Found: /favicon"):
        assert noise not in output
    assert len(output.splitlines()) < 50, output


def test_sigterm_to_make_stops_the_demo_too(demos):
    demo = demos("sigterm")
    demo.wait_until_serving()

    # A process manager stops `make` alone; make passes SIGTERM on to its child.
    os.kill(demo.process.pid, signal.SIGTERM)

    assert demo.seconds_to_stop() < STOP_WITHIN_SECONDS, demo.alive()
    assert "Stopped." in demo.output()
