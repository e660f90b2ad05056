"""Mappers from each source's payloads to canonical events, and their signature checks.

Every mapper is pure: bytes/dicts in, canonical events out, errors from emma.errors.
"""
