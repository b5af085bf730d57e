"""The HTTP service: Rekognition's JSON protocol, the native REST API, the web UI and its routes,
authentication."""
