"""Storage: connections, schema and migrations, every query, reports, import/export/backfill.
All SQL lives here and only here. Imports only the core (for the shapes it stores); no Flask."""
