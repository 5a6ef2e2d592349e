"""The command line (`infusion-coder`): commands in commands.py, review queues in review.py."""

from .commands import app, main

__all__ = ["app", "main"]
