"""The HTTP layer: dialects, error rendering, streaming."""
