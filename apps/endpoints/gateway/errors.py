"""OpenAI's error shape: {"error": {"message", "type", "param", "code"}} with its status codes."""

from __future__ import annotations

from django.http import JsonResponse


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.type, self.param, self.headers = type, param, headers or {}

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body(), status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def missing_key() -> ApiError:
    return ApiError(
        401,
        "You didn't provide an API key. Send it as 'Authorization: Bearer vf_live_...'; "
        "create one on your endpoint's page.",
        "missing_api_key",
    )


def invalid_key() -> ApiError:
    return ApiError(
        401,
        "Incorrect API key provided. It may have been revoked or rotated; "
        "see the API keys on your endpoint's page.",
        "invalid_api_key",
    )


def budget_exceeded() -> ApiError:
    return ApiError(
        402,
        "This team has reached its monthly budget, so the endpoint is paused. An owner can raise "
        "the budget or allow overage on the team's usage page.",
        "budget_exceeded",
        type="billing_error",
    )


def unknown_model(name: str) -> ApiError:
    return ApiError(
        404,
        f"The model '{name}' does not exist in this key's project. "
        "GET /v1/models lists the ones you can call.",
        "model_not_found",
        param="model",
    )


def not_ready(name: str, why: str) -> ApiError:
    return ApiError(
        503, f"The model '{name}' is not ready: {why}", "model_not_ready", type="server_error"
    )
