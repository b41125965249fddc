"""A local server answering RunPod's GraphQL gpuTypes query, for the real runpod SDK (RUNPOD_API_BASE_URL)."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler

from ._http import LocalServer, send_json


class FakeRunPod(LocalServer):
    def __init__(self, prices: dict[str, float], key: str = "rp-test-key"):
        self.prices = prices
        self.key = key
        self.queries: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.queries.append(body["query"])
                if self.headers.get("Authorization") != f"Bearer {fake.key}":
                    return self._send(401, {"errors": [{"message": "Unauthorized"}]})
                gpu_id = re.search(r'id: "([^"]+)"', body["query"]).group(1)
                if gpu_id not in fake.prices:
                    return self._send(200, {"data": {"gpuTypes": []}})
                price = fake.prices[gpu_id]
                gpu = {
                    "id": gpu_id,
                    "displayName": gpu_id,
                    "memoryInGb": 80,
                    "securePrice": price + 0.2,
                    "communityPrice": price + 0.1,
                    "lowestPrice": {"minimumBidPrice": price / 2, "uninterruptablePrice": price},
                }
                return self._send(200, {"data": {"gpuTypes": [gpu]}})

            def _send(self, status, payload):
                send_json(self, status, payload)

        self._serve(Handler)
