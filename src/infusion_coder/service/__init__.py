"""The HTTP service and the coder's page (`infusion-coder serve`): see docs/service.md."""

import os

from fastapi import FastAPI

from .app import MAX_BODY_BYTES, create_app

API_KEY_VARIABLE = "INFUSION_CODER_API_KEY"


def app_from_environment() -> FastAPI:
    """A factory for `uvicorn --factory ...:app_from_environment` (several workers): the key from the env."""
    return create_app(api_key=os.environ.get(API_KEY_VARIABLE) or None)


__all__ = ["API_KEY_VARIABLE", "MAX_BODY_BYTES", "app_from_environment", "create_app"]
