"""openmaas: self-hostable serverless LLM endpoints."""

__version__ = "0.1.0"
