"""Per-procedure expert and novice scripts for tools/make_traces.py (see surgsim.scripted for the controller)."""
