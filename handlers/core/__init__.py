"""Core: the keyword table, the classifier, consent rules, text and addresses, the Inbound shape and
the intake step. Pure decisions over data: no Flask, no SQL, no network; imports nothing above it."""
