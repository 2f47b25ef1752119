"""SQLite storage: connection, migrations, repositories (the only place with SQL)."""
