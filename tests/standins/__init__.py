"""Stand-ins for what cannot exist on this machine (named plainly where tests use them)."""
