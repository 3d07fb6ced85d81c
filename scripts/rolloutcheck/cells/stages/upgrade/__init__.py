"""Upgrade stages: the model the *from* label logged, served and replayed by the *to* label, and speed side by side."""
