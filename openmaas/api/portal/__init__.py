"""The portal dialect: /api/v1/ai/chat/completions in camelCase, answered in a {code, msg, data} envelope.

OpenAI's SDKs are answered in OpenAI's own shapes at the same URL (see shape.py).
"""
