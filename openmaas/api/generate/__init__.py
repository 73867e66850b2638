"""The generate dialect: /api/generate and /api/generate-batch, raw prompts and plain-text answers.

A request_id names a session: calling again with one the server still holds
continues that generation from its kept KV instead of starting over.
"""
