"""Stored requests: curl parsing, expectations, protocol migration, judging answers, bounded load,
loopback-only HTTP.
"""
