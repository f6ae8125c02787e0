"""The Dockerfile: parser, instruction plan and the legacy builder behind `POST /build` (E3)."""
