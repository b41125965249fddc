"""An inference server that misbehaves on purpose: streams slowly, or dies mid-answer.

The real `transformers serve` answers every other gateway test; this one is for what a real
server does only when something breaks (a crash mid-stream) or what is too fast to catch on a
tiny model (a caller hanging up while tokens still come).
"""

from __future__ import annotations

import json
import socket
import time
from http.server import BaseHTTPRequestHandler

from ._http import LocalServer


def _chunk(text: str) -> bytes:
    payload = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


class MisbehavingServer(LocalServer):
    """``"model": "slow"`` streams a word every 0.1 s for 60 s; ``"dies"`` sends two and drops
    the connection; ``"huge-line"`` sends one, then a 2 MB line with no newline (past any
    client's line limit); ``"error-500"`` answers 500 with internal words, ``"error-first"`` a
    200 stream whose first event is an error (a server whose batching loop died).
    ``finished`` counts slow streams that ran to their end."""

    def __init__(self):
        self.finished = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status, payload, raw=None):
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/event-stream" if raw else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if body["model"] == "error-500":
                    return self._answer(500, {"error": f"secret-internal at {fake.url}"})
                if body["model"] == "error-first":
                    return self._answer(
                        200, None, b'data: {"error": "cb_worker_dead secret-internal"}\n\n'
                    )
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                count = 2 if body["model"] == "dies" else 1 if body["model"] == "huge-line" else 600
                try:
                    for _ in range(count):
                        data = _chunk("word ")
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                        time.sleep(0.1)
                    if body["model"] == "huge-line":
                        data = b"data: " + b"x" * 2_000_000
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                        time.sleep(1)
                except (BrokenPipeError, ConnectionResetError):
                    return
                if body["model"] in ("dies", "huge-line"):
                    # No terminating chunk: the socket just goes, as when a server crashes.
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                fake.finished += 1
                self.wfile.write(b"0\r\n\r\n")

        self._serve(Handler)
