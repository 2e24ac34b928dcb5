"""Whether an instance shares its state through the database: on PostgreSQL, several
instances serve one platform, so documents and software keys live there (SQLite: files)."""

POSTGRES_SCHEMES = ("postgres", "postgresql", "asyncpg", "psycopg")


def is_postgres(database_url: str) -> bool:
    return (database_url or "").split(":", 1)[0].lower() in POSTGRES_SCHEMES
