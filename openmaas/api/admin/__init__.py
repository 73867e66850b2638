"""The admin API (/api/admin/...): keys and usage, for operators, the CLI and the console."""
