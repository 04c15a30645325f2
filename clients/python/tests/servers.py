"""Starts the example model servers (examples/python) and sidecars built
from this checkout, as .ci/python-examples does, on free ports.

EXPLAINER_BIN names a built `explainer` binary; otherwise one is built with
`go build` into a temporary folder. EXPLAINER_PYTHON is the interpreter of
the model servers (default /usr/bin/python3)."""

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "python"
PYTHON = os.environ.get("EXPLAINER_PYTHON", "/usr/bin/python3")


class Servers:
    def __init__(self):
        self.procs, self.tmp = [], tempfile.mkdtemp(prefix="explainer-client-tests-")
        self.logs = []

    def binary(self):
        b = os.environ.get("EXPLAINER_BIN")
        if b:
            return b
        b = os.path.join(self.tmp, "explainer")
        subprocess.run(["go", "build", "-o", b, "./cmd/explainer"], cwd=ROOT, check=True)
        return b

    def _start(self, args, pattern, stream, timeout=120):
        """Starts args and waits for a line of stdout or stderr matching
        pattern; returns the match's first group."""
        p = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        found, lines = [], []
        ready = threading.Event()

        def pump(f, watch):
            for line in f:
                lines.append(line)
                if watch and not ready.is_set():
                    m = re.search(pattern, line)
                    if m:
                        found.append(m.group(1))
                        ready.set()
            if watch:
                ready.set()

        for f, watch in ((p.stdout, stream == "stdout"), (p.stderr, stream == "stderr")):
            threading.Thread(target=pump, args=(f, watch), daemon=True).start()
        self.logs.append((args, lines))
        ready.wait(timeout)
        if not found:
            self.stop()
            raise RuntimeError(f"{args[:2]} did not start:\n{''.join(lines)}")
        return found[0]

    def model_server(self, script):
        return self._start([PYTHON, str(EXAMPLES / script), "--address", "127.0.0.1:0"],
                           r"^ready (\S+)", "stdout")

    def sidecar(self, binary, predictor, protocol, model, plaintext=True):
        args = [binary, "serve", "--listen", "127.0.0.1:0", "--predictor", predictor,
                "--protocol", protocol, "--model", model]
        if plaintext:
            args.append("--predictor-plaintext")
        return self._start(args, r'msg="explainer serving" listen=(\S+)', "stderr")

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            for f in (p.stdout, p.stderr):
                try:
                    f.close()
                except Exception:  # the pump thread may be reading it
                    pass
        self.procs = []
        shutil.rmtree(self.tmp, ignore_errors=True)


def wait_serving(address, timeout=30):
    """Until a gRPC channel to address is ready."""
    import grpc

    ch = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(ch).result(timeout=timeout)
    finally:
        ch.close()
