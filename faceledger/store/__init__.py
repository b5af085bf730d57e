"""Persistent storage of collections: the catalog and the vector indexes derived from it."""
