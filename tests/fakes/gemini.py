"""A local server speaking Gemini's generateContent REST shape, for the real google-genai client."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler

from ._http import LocalServer


class FakeGemini(LocalServer):
    def __init__(self):
        self.mode = "ok"  # ok | error | slow | malformed
        self.answer: dict = {"message": "Hello", "questions": [], "recommendation": None}
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(
                    self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}"
                )
                fake.requests.append(
                    {"path": self.path, "key": self.headers.get("x-goog-api-key"), "body": body}
                )
                if fake.mode == "slow":
                    time.sleep(3)
                if fake.mode == "error":
                    data = json.dumps(
                        {"error": {"code": 500, "message": "internal", "status": "INTERNAL"}}
                    ).encode()
                    self.send_response(500)
                else:
                    text = "{not json" if fake.mode == "malformed" else json.dumps(fake.answer)
                    data = json.dumps(
                        {
                            "candidates": [
                                {
                                    "content": {"role": "model", "parts": [{"text": text}]},
                                    "finishReason": "STOP",
                                }
                            ],
                            "usageMetadata": {
                                "promptTokenCount": 10,
                                "candidatesTokenCount": 20,
                                "totalTokenCount": 30,
                            },
                        }
                    ).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass

        self._serve(Handler, trailing_slash=True)
