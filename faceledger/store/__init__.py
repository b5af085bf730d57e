"""Persistent storage: the catalog (collections, faces, users, jobs, the ledger, access keys), the
vector indexes derived from it, and the master key."""
