"""A local HTTP server that speaks the parts of the Hugging Face Hub API that VibeFlow uses.

The real huggingface_hub client is pointed at it (HfApi(endpoint=...)): dataset
search (/api/datasets), dataset info (/api/datasets/<id>?blobs=true) and file
download (HEAD/GET /datasets/<id>/resolve/<revision>/<file>); and for pushing a
model: whoami (/api/whoami-v2), repository creation (/api/repos/create, 409 with the
URL when it exists), model info (/api/models/<id>), README metadata validation
(/api/validate-yaml), preupload (/api/models/<id>/preupload/<rev>) and the NDJSON
commit (/api/models/<id>/commit/<rev>). Every file is answered as a "regular"
upload, so its bytes travel base64-encoded inside the commit; the real Hub sends
binaries through Xet storage instead, which huggingface_hub does on its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
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
        self.users: dict[str, str] = {}  # write token -> user name
        # repo id -> {"private": bool, "files": {path: bytes}, "commits": [summary, ...]}
        self.models: dict[str, dict] = {}
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

            def _user(self) -> str | None:
                auth = self.headers.get("Authorization", "")
                return hub.users.get(auth.removeprefix("Bearer ")) if auth else None

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _model_route(self, path: str) -> bool:
                """Answer the model-repository routes; False when the path is not one."""
                if path == "/api/whoami-v2":
                    user = self._user()
                    if user is None:
                        self._json(401, {"error": "Invalid credentials in Authorization header"})
                    else:
                        self._json(
                            200,
                            {
                                "type": "user",
                                "name": user,
                                "orgs": [],
                                "auth": {"accessToken": {"displayName": "t", "role": "write"}},
                            },
                        )
                    return True
                if path == "/api/validate-yaml":
                    self._body()
                    self._json(200, {"errors": [], "warnings": []})
                    return True
                if path == "/api/repos/create":
                    payload = json.loads(self._body())
                    user = self._user()
                    if user is None:
                        self._json(401, {"error": "Invalid credentials in Authorization header"})
                        return True
                    namespace = payload.get("organization") or user
                    if namespace != user:
                        self._json(
                            403,
                            {
                                "error": "You don't have the rights to create a model under this namespace"
                            },
                        )
                        return True
                    repo = f"{namespace}/{payload['name']}"
                    url = f"{hub.url}/{repo}"
                    if repo in hub.models:
                        self._json(
                            409, {"error": "You already created this model repo", "url": url}
                        )
                        return True
                    hub.models[repo] = {
                        "private": payload.get("visibility") == "private"
                        or bool(payload.get("private")),
                        "files": {},
                        "commits": [],
                    }
                    self._json(200, {"url": url, "name": repo})
                    return True
                if not path.startswith("/api/models/"):
                    return False
                rest = path[len("/api/models/") :]
                for marker in ("/preupload/", "/commit/"):
                    if marker in rest:
                        repo = rest.split(marker)[0]
                        break
                else:
                    repo = rest.split("/revision/")[0]
                    marker = None
                user = self._user()
                if repo not in hub.models or user is None or not repo.startswith(user + "/"):
                    self._body()
                    self.send_response(404)
                    self.send_header("X-Error-Code", "RepoNotFound")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return True
                model = hub.models[repo]
                if marker is None:
                    self._json(200, {"id": repo, "sha": COMMIT, "private": model["private"]})
                elif marker == "/preupload/":
                    files = json.loads(self._body())["files"]
                    self._json(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                for f in files
                            ]
                        },
                    )
                else:
                    summary = ""
                    for line in self._body().splitlines():
                        item = json.loads(line)
                        if item["key"] == "header":
                            summary = item["value"]["summary"]
                        elif item["key"] == "file":
                            value = item["value"]
                            model["files"][value["path"]] = base64.b64decode(value["content"])
                    model["commits"].append(summary)
                    oid = hashlib.sha1(f"{repo}{len(model['commits'])}".encode()).hexdigest()
                    self._json(
                        200,
                        {
                            "commitUrl": f"{hub.url}/{repo}/commit/{oid}",
                            "commitOid": oid,
                            "pullRequestUrl": None,
                        },
                    )
                return True

            def do_POST(self):
                path = unquote(urlsplit(self.path).path)
                hub.requests.append(f"POST {path}")
                if not self._model_route(path):
                    self._json(404, {"error": "not found"})

            def do_GET(self):
                path = unquote(urlsplit(self.path).path)
                if path == "/api/whoami-v2" or path.startswith("/api/models/"):
                    hub.requests.append(f"GET {path}")
                    self._model_route(path)
                    return
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
