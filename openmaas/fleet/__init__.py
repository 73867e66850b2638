"""Which models are loaded, and where their files come from."""
