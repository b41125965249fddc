"""A process answering as `transformers serve` does where the inference supervisor looks:
/health, /v1/models and /load_model (transformers/cli/serving/server.py), with a model's
process of its own that exits when the server does (as `run_until_parent_exits` makes it).

The supervisor starts it as its child, so it runs as a program, and the test steers it through
files in ``STATE_DIR``: ``health`` says how /health answers ("ok", "dead": 503 as a dead
continuous-batching worker, "500", "hang"), reset to "ok" at each start; ``ignore-term`` makes
it ignore SIGTERM. It writes down each start (``starts``: its pid and its model process's) and
each /load_model (``loads``: its pid and the model), and how many models each /v1/models listed
as loaded (``listings``).

    python -m tests.fakes.transformers_serve PORT STATE_DIR
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Exits once its parent has: a model's process of transformers serve.
MODEL_PROCESS = "import os, sys, time\nwhile os.getppid() == int(sys.argv[1]): time.sleep(0.05)"


def main(port: int, state: Path) -> None:
    if (state / "ignore-term").exists():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    (state / "health").write_text("ok")
    model_process = subprocess.Popen([sys.executable, "-c", MODEL_PROCESS, str(os.getpid())])
    with open(state / "starts", "a") as starts:
        starts.write(f"{os.getpid()} {model_process.pid}\n")
    loaded: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                health = (state / "health").read_text().strip()
                if health == "hang":
                    time.sleep(60)
                if health == "dead":
                    dead = {"status": "unhealthy", "reason": "cb_worker_dead"}
                    return self.answer(503, json.dumps(dead).encode())
                if health == "500":
                    return self.answer(500, b"Internal Server Error", "text/plain")
                return self.answer(200, b'{"status": "ok"}')
            if self.path == "/v1/models":
                with open(state / "listings", "a") as listings:
                    listings.write(f"{len(loaded)}\n")
                listed = [{"id": "HuggingFaceTB/in-the-cache", "status": {"value": "unloaded"}}]
                listed += [{"id": model, "status": {"value": "loaded"}} for model in loaded]
                return self.answer(200, json.dumps({"object": "list", "data": listed}).encode())
            self.answer(404, b"{}")

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            model = body["model"]
            with open(state / "loads", "a") as loads:
                loads.write(f"{os.getpid()} {model}\n")
            if Path(model).is_dir():
                loaded.append(model)
                event = {"status": "ready", "model": model, "cached": False}
            else:
                event = {"status": "error", "model": model, "message": f"{model} not found"}
            self.answer(200, f"data: {json.dumps(event)}\n\n".encode(), "text/event-stream")

    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
