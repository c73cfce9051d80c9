"""The test suite by tier: unit/ in-process, integration/ with real parts on loopback or in subprocesses, slow/."""
