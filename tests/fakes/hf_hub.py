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

A public model added with add_model() is served as transformers downloads one, to
anyone: HEAD/GET /<id>/resolve/<revision>/<file>, its info (/api/models/<id>) and
its file list (/api/models/<id>/tree/<revision>).
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
        self.public_models: dict[str, dict[str, bytes]] = {}  # repo id -> {path: bytes}
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

            def _not_found(self, code: str):
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(b"{}")

            def _file(self, content: bytes | None, head: bool):
                if content is None:
                    return self._not_found("EntryNotFound")
                self.send_response(200)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("ETag", '"' + hashlib.sha256(content).hexdigest() + '"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.end_headers()
                if not head:
                    self.wfile.write(content)
                return None

            def _public_model_route(self, path: str, head: bool) -> bool:
                """A file, the info or the file list of a model added with add_model()."""
                api = path.startswith("/api/models/")
                rest = path[len("/api/models/") :] if api else path.lstrip("/")
                repo = next(
                    (r for r in hub.public_models if rest == r or rest.startswith(r + "/")), None
                )
                if repo is None:
                    return False
                hub.requests.append(f"{self.command} {path}")
                files = hub.public_models[repo]
                # "", "revision/<rev>", "tree/<rev>[/<folder>]" or "resolve/<rev>/<file>"
                kind, _, revision_and_name = rest[len(repo) :].lstrip("/").partition("/")
                name = revision_and_name.partition("/")[2].strip("/")
                if not api and kind == "resolve":
                    self._file(files.get(name), head)
                elif api and kind in ("", "revision"):
                    self._json(200, hub._model_info(repo))
                elif api and kind == "tree":
                    prefix = name + "/" if name else ""
                    found = [
                        {"type": "file", "path": n, "size": len(c), "oid": COMMIT}
                        for n, c in files.items()
                        if n.startswith(prefix)
                    ]
                    if prefix and not found:
                        self._not_found("EntryNotFound")
                    else:
                        self._json(200, found)
                else:
                    self._not_found("EntryNotFound")
                return True

            def _handle(self, head: bool):
                url = urlsplit(self.path)
                path = unquote(url.path)
                if self._public_model_route(path, head):
                    return None
                hub.requests.append(f"{self.command} {url.path}")
                if not self._authorised():
                    return self._json(401, {"error": "Invalid credentials"})
                if path == "/api/datasets":
                    query = (parse_qs(url.query).get("search") or [""])[0].lower()
                    found = [hub._info(i, blobs=False) for i in hub.datasets if query in i.lower()]
                    return self._json(200, found)
                if path.startswith("/api/datasets/"):
                    repo = path[len("/api/datasets/") :].split("/revision/")[0]
                    if repo not in hub.datasets:
                        return self._not_found("RepoNotFound")
                    return self._json(200, hub._info(repo, blobs=True))
                if path.startswith("/datasets/") and "/resolve/" in path:
                    repo, rest = path[len("/datasets/") :].split("/resolve/", 1)
                    filename = rest.split("/", 1)[1]
                    content = hub.datasets.get(repo, {}).get("files", {}).get(filename)
                    return self._file(content, head)
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
                if self._public_model_route(path, head=False):
                    return
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

    def _model_info(self, repo: str) -> dict:
        files = self.public_models[repo]
        return {
            "id": repo,
            "modelId": repo,
            "sha": COMMIT,
            "private": False,
            "gated": False,
            "disabled": False,
            "tags": [],
            "siblings": [{"rfilename": name, "size": len(c)} for name, c in files.items()],
        }

    def add(self, repo: str, files: dict[str, bytes], **meta) -> None:
        self.datasets[repo] = {"files": files, **meta}

    def add_model(self, repo: str, folder) -> None:
        """Serve the files of a local model folder as the public model repository ``repo``."""
        from pathlib import Path

        self.public_models[repo] = {
            path.name: path.read_bytes()
            for path in sorted(Path(folder).iterdir())
            if path.is_file()
        }
