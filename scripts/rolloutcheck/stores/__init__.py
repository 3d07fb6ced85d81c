"""Tracking stores: snapshot comparison, private PostgreSQL clusters, running the in-env store scripts."""
