"""Inputs: image bytes decoded and checked, objects read from buckets, folders of images, input limits."""
