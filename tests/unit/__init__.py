"""Fast in-process tests: pure functions, and the handler with plain event dicts; no servers, no subprocesses."""
