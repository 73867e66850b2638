"""The web console's JSON API (/api/console/*): what the signed-in key may see of models, conversations and usage."""
