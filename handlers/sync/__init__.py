"""Sync: keeping the providers' own suppression lists in step with ours: which API clients the
settings configure, the push of queued changes (run by the mail worker) and the pull of a provider's
lists (flask pull-suppressions). Uses storage for the queue and providers for the HTTP; no Flask."""
