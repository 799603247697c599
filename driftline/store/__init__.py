"""The state store (SQLite or PostgreSQL through SQLAlchemy), its link with the MLflow store,
and moving a project folder."""
