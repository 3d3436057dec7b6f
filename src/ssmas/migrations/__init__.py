"""Alembic migrations for every ``ssmas`` table, shipped inside the package.

Add a revision by dropping a file in ``versions/`` whose ``down_revision`` is the current head;
run them with ``ssmas db upgrade`` or ``ssmas.core.db.upgrade(url)``.
"""
