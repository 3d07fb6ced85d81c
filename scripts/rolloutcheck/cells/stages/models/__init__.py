"""The stages of a models cell: production's own model, from a copy of its tracking store."""
