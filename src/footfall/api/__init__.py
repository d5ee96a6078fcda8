"""The HTTP interface: the FastAPI app with the Segment-compatible tracking API."""

from footfall.api.app import create_app

__all__ = ["create_app"]
