"""Keeping the providers' own suppression lists in step with ours: push (the worker) and pull (a command)."""
