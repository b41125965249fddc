"""A local HTTP server that speaks the parts of the Hugging Face Hub API that VibeFlow uses.

The real huggingface_hub client is pointed at it (HfApi(endpoint=...)): dataset
search (/api/datasets), dataset info (/api/datasets/<id>?blobs=true) and file
download (HEAD/GET /datasets/<id>/resolve/<revision>/<file>).
"""

from __future__ import annotations

import hashlib
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from ._http import LocalServer, send_json

COMMIT = "0" * 39 + "1"


class FakeHub(LocalServer):
    def __init__(self):
        self.datasets: dict[
            str, dict
        ] = {}  # id -> {"files": {name: bytes}, "tags": [...], "features": [...]}
        self.requests: list[str] = []
        self.require_token: str | None = None
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status, body):
                send_json(self, status, body)

            def _authorised(self) -> bool:
                if hub.require_token is None:
                    return True
                return self.headers.get("Authorization") == f"Bearer {hub.require_token}"

            def _handle(self, head: bool):
                url = urlsplit(self.path)
                hub.requests.append(f"{self.command} {url.path}")
                if not self._authorised():
                    return self._json(401, {"error": "Invalid credentials"})
                path = unquote(url.path)
                if path == "/api/datasets":
                    query = (parse_qs(url.query).get("search") or [""])[0].lower()
                    found = [hub._info(i, blobs=False) for i in hub.datasets if query in i.lower()]
                    return self._json(200, found)
                if path.startswith("/api/datasets/"):
                    repo = path[len("/api/datasets/") :].split("/revision/")[0]
                    if repo not in hub.datasets:
                        self.send_response(404)
                        self.send_header("X-Error-Code", "RepoNotFound")
                        self.send_header("Content-Length", "2")
                        self.end_headers()
                        self.wfile.write(b"{}")
                        return None
                    return self._json(200, hub._info(repo, blobs=True))
                if path.startswith("/datasets/") and "/resolve/" in path:
                    repo, rest = path[len("/datasets/") :].split("/resolve/", 1)
                    filename = rest.split("/", 1)[1]
                    content = hub.datasets.get(repo, {}).get("files", {}).get(filename)
                    if content is None:
                        self.send_response(404)
                        self.send_header("X-Error-Code", "EntryNotFound")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return None
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(content)))
                    self.send_header("ETag", '"' + hashlib.sha256(content).hexdigest() + '"')
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.end_headers()
                    if not head:
                        self.wfile.write(content)
                    return None
                return self._json(404, {"error": "not found"})

            def do_GET(self):
                self._handle(head=False)

            def do_HEAD(self):
                self._handle(head=True)

        self._serve(Handler)

    def _info(self, repo: str, blobs: bool) -> dict:
        d = self.datasets[repo]
        info = {
            "id": repo,
            "sha": COMMIT,
            "downloads": d.get("downloads", 1234),
            "likes": 5,
            "tags": d.get("tags", []),
            "cardData": {
                "license": d.get("license"),
                "dataset_info": {
                    "features": [{"name": n, "dtype": "string"} for n in d.get("features", [])]
                },
            },
        }
        info["siblings"] = [
            {"rfilename": name, **({"size": len(c)} if blobs else {})}
            for name, c in d["files"].items()
        ]
        return info

    def add(self, repo: str, files: dict[str, bytes], **meta) -> None:
        self.datasets[repo] = {"files": files, **meta}
