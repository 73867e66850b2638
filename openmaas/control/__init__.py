"""The control plane: what the server offers (deployments now; keys, catalog and usage later).

Plain data and its storage; never imports the engine or the web framework.
"""
