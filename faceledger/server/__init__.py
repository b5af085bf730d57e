"""The HTTP service: Rekognition's JSON protocol, the native REST API, access keys."""
