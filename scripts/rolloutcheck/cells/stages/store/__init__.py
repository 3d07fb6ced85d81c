"""Store stages: a tracking store written by one label, upgraded, migrated and read by another."""
