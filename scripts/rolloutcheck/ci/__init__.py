"""Cells as data for CI, shards, the matrix runner with progress, and the CI files' lint."""
