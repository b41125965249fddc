"""A local server taking Slack-compatible incoming-webhook posts ({"text": ...}), answering as
Slack does ("ok"), or with ``status`` when a test wants a failing hook."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from ._http import LocalServer


class FakeWebhook(LocalServer):
    def __init__(self, status: int = 200):
        self.status = status
        self.messages: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.messages.append(json.loads(body))
                text = b"ok" if fake.status == 200 else b"invalid_payload"
                self.send_response(fake.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        self._serve(Handler, trailing_slash=True)
