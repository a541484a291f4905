"""Web: Flask blueprints and request guards only. A route authenticates, hands a parsed object to the
core, and translates the outcome into HTTP: no SQL, no keyword matching, no reply wording here."""
