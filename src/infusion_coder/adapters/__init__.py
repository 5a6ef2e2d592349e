"""Thin shells around the core: reading and writing encounters, the command line."""
