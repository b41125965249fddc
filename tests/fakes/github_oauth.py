"""A local server answering as GitHub (Enterprise, under GITHUB_URL) does for an OAuth app: the
authorize page (which approves at once, as a signed-in user who clicks Authorize), the token
exchange, and the API's /user and /user/emails, for allauth's GitHub provider."""

from __future__ import annotations

import secrets
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit

from ._http import LocalServer, send_json


class FakeGitHub(LocalServer):
    def __init__(self, client_id: str, client_secret: str, email: str, verified: bool = True):
        self.client_id, self.client_secret = client_id, client_secret
        self.user = {"id": 583231, "login": "octocat", "name": "Mona Octocat", "email": None}
        self.emails = [{"email": email, "primary": True, "verified": verified}]
        self.codes: dict[str, str] = {}  # code -> redirect_uri
        self.tokens: set[str] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/login/oauth/authorize":
                    if query.get("client_id") != fake.client_id:
                        return send_json(self, 404, {"error": "unknown client"})
                    code = secrets.token_hex(8)
                    fake.codes[code] = query["redirect_uri"]
                    back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
                    self.send_response(302)
                    self.send_header("Location", back)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                token = self.headers.get("Authorization", "").removeprefix("token ")
                if token not in fake.tokens:
                    return send_json(self, 401, {"message": "Bad credentials"})
                if url.path == "/api/v3/user":
                    return send_json(self, 200, fake.user)
                if url.path == "/api/v3/user/emails":
                    return send_json(self, 200, fake.emails)
                return send_json(self, 404, {"message": "Not Found"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                if urlsplit(self.path).path != "/login/oauth/access_token":
                    return send_json(self, 404, {"message": "Not Found"})
                if (form.get("client_id"), form.get("client_secret")) != (
                    fake.client_id,
                    fake.client_secret,
                ) or fake.codes.pop(form.get("code", ""), None) is None:
                    return send_json(self, 200, {"error": "bad_verification_code"})
                token = f"gho_{secrets.token_hex(16)}"
                fake.tokens.add(token)
                return send_json(
                    self, 200, {"access_token": token, "token_type": "bearer", "scope": "read:user"}
                )

        self._serve(Handler)
