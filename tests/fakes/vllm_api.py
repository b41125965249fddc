"""A local server answering as `vllm serve --enable-lora` does with
VLLM_ALLOW_RUNTIME_LORA_UPDATING=True: /health, runtime adapter loading, /v1/models, chat.

vLLM needs a GPU, so GPU nodes' deploy path meets this instead in the test suite. What it
checks is vLLM's (vllm/entrypoints/openai/serving_models.py): both fields required, a name
loaded twice refused with "has already been loaded", a folder without an adapter 404 "No
adapter found", and a model name that is neither the base nor a loaded adapter 404.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from ._http import LocalServer, send_json


def _error(message: str, err_type: str, code: int) -> dict:
    return {"error": {"message": message, "type": err_type, "param": None, "code": code}}


class FakeVLLM(LocalServer):
    def __init__(self, base: str = "base-model"):
        self.base = base
        self.adapters: dict[str, str] = {}  # name -> path
        self.answered: list[str] = []  # the model of each chat completion answered
        self.unloaded: list[str] = []  # adapters unloaded, in order
        self.delay_s = 0.0  # how long each chat completion takes (calls in flight for tests)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/health":
                    return send_json(self, 200, {})
                if self.path == "/v1/models":
                    cards = [{"id": fake.base, "object": "model", "root": fake.base}]
                    cards += [
                        {"id": name, "object": "model", "root": path, "parent": fake.base}
                        for name, path in fake.adapters.items()
                    ]
                    return send_json(self, 200, {"object": "list", "data": cards})
                return send_json(self, 404, {"detail": "Not Found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if self.path == "/v1/load_lora_adapter":
                    return self._load(body)
                if self.path == "/v1/unload_lora_adapter":
                    return self._unload(body)
                if self.path == "/v1/chat/completions":
                    return self._chat(body)
                return send_json(self, 404, {"detail": "Not Found"})

            def _load(self, body):
                name, path = body.get("lora_name"), body.get("lora_path")
                if not name or not path:
                    message = "Both 'lora_name' and 'lora_path' must be provided."
                    return send_json(self, 400, _error(message, "InvalidUserInput", 400))
                if name in fake.adapters:
                    message = f"The lora adapter '{name}' has already been loaded."
                    return send_json(self, 400, _error(message, "InvalidUserInput", 400))
                if not (Path(path) / "adapter_config.json").is_file():
                    message = f"Loading lora {name} failed: No adapter found for {path}"
                    return send_json(self, 404, _error(message, "NotFoundError", 404))
                fake.adapters[name] = path
                text = f"Success: LoRA adapter '{name}' added successfully.".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def _unload(self, body):
                name = body.get("lora_name")
                if name not in fake.adapters:
                    message = f"The lora adapter '{name}' cannot be found."
                    return send_json(self, 404, _error(message, "NotFoundError", 404))
                del fake.adapters[name]
                fake.unloaded.append(name)
                text = f"Success: LoRA adapter '{name}' removed successfully.".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def _chat(self, body):
                model = body.get("model")
                if model != fake.base and model not in fake.adapters:
                    message = f"The model `{model}` does not exist."
                    return send_json(self, 404, _error(message, "NotFoundError", 404))
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                fake.answered.append(model)
                words = ["answered", "by", model][: max(1, int(body.get("max_tokens") or 16))]
                usage = {
                    "prompt_tokens": 7,
                    "completion_tokens": len(words),
                    "total_tokens": 7 + len(words),
                }
                answer = {
                    "id": "chatcmpl-vllm",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": " ".join(words)},
                            "finish_reason": "length",
                        }
                    ],
                    "usage": usage,
                }
                return send_json(self, 200, answer)

        self._serve(Handler)
