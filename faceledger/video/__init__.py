"""Stored video: decoding and sampling, face tracks, and the asynchronous jobs."""
