"""The run folder: the SQLite store (`store`), atomic writes and checkpoints (`atomic`), the run log (`log`)."""
