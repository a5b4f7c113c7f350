"""Database mechanisms: engine and sessions, migrations, the outbox and inbox tables."""
