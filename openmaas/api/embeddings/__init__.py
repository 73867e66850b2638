"""OpenAI's embeddings endpoint: wire models (protocol.py) and their serving (serving.py)."""
