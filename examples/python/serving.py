"""Plumbing shared by the example model servers: stub imports, logging, the
gRPC server's life cycle and request validation helpers."""

import logging
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

# The generated stubs live in gen/ (committed, so no tools are needed to run
# the examples); their imports are absolute from that root ("from predict.v1
# import predict_pb2").
GEN = Path(__file__).resolve().parent / "gen"
if str(GEN) not in sys.path:
    sys.path.insert(0, str(GEN))

import grpc  # noqa: E402

# The sidecar splits batches at 3 MiB; accept more so that another client's
# larger batch gets a clear max_batch_size error rather than a transport one.
MAX_MESSAGE_BYTES = 16 << 20

log = logging.getLogger("example")


def setup_logging():
    """Logs go to stderr; stdout carries only the "ready" line."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


class Rejected(Exception):
    """A request the model cannot take; becomes INVALID_ARGUMENT (or code)."""

    def __init__(self, message, code=grpc.StatusCode.INVALID_ARGUMENT):
        super().__init__(message)
        self.code = code


def handle(fn):
    """Wraps an RPC method: a Rejected aborts the call with its code and
    message, anything else with INTERNAL (logged with its traceback)."""

    def wrapped(self, request, context):
        try:
            return fn(self, request, context)
        except Rejected as e:
            log.info("%s rejected: %s", fn.__name__, e)
            context.abort(e.code, str(e))
        except Exception as e:  # a bug: say so instead of hanging the client
            log.exception("%s failed", fn.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"{fn.__name__}: {e}")

    wrapped.__name__ = fn.__name__
    return wrapped


def new_server(workers=8, max_message_bytes=MAX_MESSAGE_BYTES):
    """A thread-pool gRPC server; the models must be safe for concurrent
    calls (the sidecar keeps several batches in flight)."""
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )


def serve(server, address, grace=2.0):
    """Binds address (port 0 picks a free port), prints "ready <address>"
    once RPCs are accepted and blocks until SIGTERM or SIGINT, then stops,
    letting calls in flight finish for up to grace seconds."""
    stop = threading.Event()
    # Installed explicitly: a process started in the background by a shell
    # inherits SIGINT ignored, and Python then would not install its own.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as e:  # grpcio raises when it cannot bind
        log.error("cannot listen on %s: %s", address, e)
        sys.exit(1)
    if port == 0:
        log.error("cannot listen on %s", address)
        sys.exit(1)
    server.start()
    host = address.rsplit(":", 1)[0]
    bound = f"{host}:{port}"
    print(f"ready {bound}", flush=True)
    log.info("serving on %s", bound)
    while not stop.wait(timeout=1.0):  # a timeout keeps signals prompt
        pass
    log.info("stopping")
    server.stop(grace).wait()
    log.info("stopped")
