"""The web console: server-rendered pages and plain JavaScript modules, served by the app at /."""
