"""The opt-out service. This top level only wires the app: settings, services, CLI, gunicorn settings.

Layers, lowest first; each imports only the layers below it (tests/test_layers.py checks):
core -> storage -> email -> providers -> web -> this top level.
"""
