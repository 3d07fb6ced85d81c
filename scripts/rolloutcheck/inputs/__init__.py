"""What the repository declares: the version registry, use cases, preflight checks, known breaks, the
store check's config.
"""
