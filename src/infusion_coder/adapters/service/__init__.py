"""The HTTP service and the coder's page (`infusion-coder serve`): see docs/service.md."""

from .app import MAX_BODY_BYTES, create_app

__all__ = ["MAX_BODY_BYTES", "create_app"]
