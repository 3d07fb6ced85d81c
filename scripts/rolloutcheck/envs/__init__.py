"""A cell's environment: requirements from conda.yaml, uv and conda backends, locks, install, env
marker, merged requirements, interpreter choice.
"""
