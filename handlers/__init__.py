"""Inbound-reply handler for SMS and email opt-outs: adapters, classifier, store, replies."""
