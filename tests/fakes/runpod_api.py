"""A local server answering RunPod's GraphQL (GPU types, deploy, pod, terminate) for the real runpod SDK (RUNPOD_API_BASE_URL)."""

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
        self.pods: dict[str, dict] = {}  # id → {"gpu", "image", "env", "terminated"}
        self.uptime_seconds = 123
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.queries.append(body["query"])
                if self.headers.get("Authorization") != f"Bearer {fake.key}":
                    return self._send(401, {"errors": [{"message": "Unauthorized"}]})
                query = body["query"]
                if "podFindAndDeployOnDemand" in query:
                    return self._send(
                        200, {"data": {"podFindAndDeployOnDemand": fake._deploy(query)}}
                    )
                if "podTerminate" in query:
                    pod_id = re.search(r'podId: "([^"]+)"', query).group(1)
                    fake.pods[pod_id]["terminated"] = True
                    return self._send(200, {"data": {"podTerminate": None}})
                if "pod(input" in query:
                    pod_id = re.search(r'podId: "([^"]+)"', query).group(1)
                    pod = fake.pods.get(pod_id)
                    info = {"id": pod_id, "uptimeSeconds": fake.uptime_seconds, "costPerHr": 1.64}
                    return self._send(200, {"data": {"pod": info if pod else None}})
                gpu_id = re.search(r'id: "([^"]+)"', query).group(1)
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

    def _deploy(self, mutation: str) -> dict:
        pod_id = f"pod-{len(self.pods) + 1}"
        self.pods[pod_id] = {
            "gpu": re.search(r'gpuTypeId: "([^"]+)"', mutation).group(1),
            "image": re.search(r'imageName: "([^"]+)"', mutation).group(1),
            "env": dict(re.findall(r'\{ key: "([^"]+)", value: "([^"]*)" \}', mutation)),
            "terminated": False,
        }
        return {
            "id": pod_id,
            "imageName": self.pods[pod_id]["image"],
            "env": [],
            "machineId": "m-1",
            "machine": {"podHostId": f"{pod_id}-host"},
        }
