"""Targets that submit compiled artifacts, track them and keep run records."""
