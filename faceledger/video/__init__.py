"""Stored video: decoding and sampling, shot cuts, face tracks, and a job's completion message."""
