"""Alembic migrations of the control plane's database (run by ``openmaas.control.db.upgrade``)."""
