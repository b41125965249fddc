"""A local server answering RunPod for the real runpod SDK: its GraphQL (GPU types, deploy,
pod, terminate; serverless templates and endpoints) at RUNPOD_API_BASE_URL, and serverless
endpoints' REST routes (/v2/<id>/health, and the vLLM worker's OpenAI-compatible
/v2/<id>/openai/v1/chat/completions) at RUNPOD_ENDPOINT_BASE_URL = <url>/v2."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler

from ._http import LocalServer, send_json

# One environment variable of a template, as GraphQL: two string literals.
ENTRY = r'\{ key: "((?:[^"\\]|\\.)*)", value: "((?:[^"\\]|\\.)*)" \}'


class FakeRunPod(LocalServer):
    def __init__(self, prices: dict[str, float], key: str = "rp-test-key"):
        self.prices = prices
        self.key = key
        self.queries: list[str] = []
        self.pods: dict[str, dict] = {}  # id → {"gpu", "image", "env", "terminated"}
        self.uptime_seconds = 123
        self.templates: dict[str, dict] = {}  # name -> {"id", "image", "env", "serverless"}
        self.endpoints: dict[str, dict] = {}  # id -> {"template", "workersMin", ...}
        self.workers = {"idle": 0, "running": 0}  # what every endpoint's /health reports
        self.answered: list[tuple[str, str]] = []  # (endpoint id, model) of each completion
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {fake.key}":
                    return True
                self._send(401, {"errors": [{"message": "Unauthorized"}]})
                return False

            def _serverless(self, endpoint_id):
                endpoint = fake.endpoints.get(endpoint_id)
                if endpoint is None or endpoint["deleted"]:
                    self._send(404, {"error": "endpoint not found"})
                return endpoint if endpoint and not endpoint["deleted"] else None

            def do_GET(self):
                match = re.fullmatch(r"/v2/([^/]+)/health", self.path)
                if not match:
                    return self._send(404, {"error": "not found"})
                if not self._authorized():
                    return None
                if self._serverless(match.group(1)) is not None:
                    jobs = {"completed": len(fake.answered), "failed": 0, "inProgress": 0}
                    workers = {"initializing": 0, "ready": 0, "throttled": 0, "unhealthy": 0}
                    self._send(200, {"jobs": jobs, "workers": workers | fake.workers})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if self.path.startswith("/v2/"):
                    return self._openai(body)
                fake.queries.append(body["query"])
                if not self._authorized():
                    return None
                query = body["query"]
                if "saveTemplate" in query:
                    template = fake._template(query)
                    if template is None:
                        return self._send(200, {"errors": [{"message": "Syntax Error"}]})
                    return self._send(200, {"data": {"saveTemplate": template}})
                if "saveEndpoint" in query:
                    return self._send(200, {"data": {"saveEndpoint": fake._endpoint(query)}})
                if "deleteEndpoint" in query:
                    endpoint_id = re.search(r'id: "([^"]+)"', query).group(1)
                    fake.endpoints[endpoint_id]["deleted"] = True
                    return self._send(200, {"data": {"deleteEndpoint": None}})
                if "deleteTemplate" in query:
                    name = re.search(r'templateName: "([^"]+)"', query).group(1)
                    fake.templates.pop(name, None)
                    return self._send(200, {"data": {"deleteTemplate": None}})
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

            def _openai(self, body):
                match = re.fullmatch(r"/v2/([^/]+)/openai/v1/chat/completions", self.path)
                if not match:
                    return self._send(404, {"error": "not found"})
                if not self._authorized():
                    return None
                endpoint = self._serverless(match.group(1))
                if endpoint is None:
                    return None
                env = fake.templates[endpoint["template_name"]]["env"]
                served = [module["name"] for module in json.loads(env.get("LORA_MODULES", "[]"))]
                served.append(env["OPENAI_SERVED_MODEL_NAME_OVERRIDE"])
                if body.get("model") not in served:
                    message = f"The model `{body.get('model')}` does not exist."
                    error = {"message": message, "type": "NotFoundError", "code": 404}
                    return self._send(404, {"error": error})
                fake.answered.append((match.group(1), body["model"]))
                answer = {
                    "id": "chatcmpl-runpod",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "answered on runpod"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
                }
                return self._send(200, answer)

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

    def _template(self, mutation: str) -> dict | None:
        """None: the mutation is not valid GraphQL (RunPod answers with a syntax error)."""
        name = re.search(r'name: "([^"]+)"', mutation).group(1)
        listed = re.search(r"env: \[(.*?)\], isServerless", mutation, re.S)
        if listed is None or not re.fullmatch(rf"(?:{ENTRY}(?:, )?)*", listed.group(1)):
            return None
        template = {
            "id": f"tpl-{len(self.templates) + 1}",
            "name": name,
            "image": re.search(r'imageName: "([^"]+)"', mutation).group(1),
            # GraphQL string literals, as RunPod parses them: a quote inside a value must
            # come escaped, or the literal ends there.
            "env": {
                json.loads(f'"{key}"'): json.loads(f'"{value}"')
                for key, value in re.findall(ENTRY, listed.group(1))
            },
            "serverless": "isServerless: true" in mutation,
        }
        self.templates[name] = template
        return {"id": template["id"], "name": name, "imageName": template["image"]}

    def _endpoint(self, mutation: str) -> dict:
        endpoint_id = f"ep{len(self.endpoints) + 1}"
        template_id = re.search(r'templateId: "([^"]+)"', mutation).group(1)
        fields = {
            key: int(re.search(rf"{key}: (\d+)", mutation).group(1))
            for key in ("workersMin", "workersMax", "idleTimeout")
        }
        self.endpoints[endpoint_id] = {
            "template_name": next(
                name for name, t in self.templates.items() if t["id"] == template_id
            ),
            "gpuIds": re.search(r'gpuIds: "([^"]+)"', mutation).group(1),
            "flashboot": "FLASHBOOT" in mutation,
            "deleted": False,
            **fields,
        }
        return {"id": endpoint_id, "templateId": template_id, **fields}
