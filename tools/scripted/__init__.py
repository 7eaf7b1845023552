"""Per-procedure expert and novice scripts for tools/make_traces.py, built on :mod:`surgsim.script` (the package's
scripting library)."""
