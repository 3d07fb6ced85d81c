"""Foundations that import nothing else of the package: paths, settings, the error root, processes,
step logs, version matching, atomic files, loopback ports.
"""
