"""Model runners: the code that owns a model's weights and KV memory."""
