"""Fuzzing and archive-surgery tools for nzarc (see fuzz/run and spec/vectors/bad/)."""
