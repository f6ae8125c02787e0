"""The dashboard (#18, B1): a local web page on 127.0.0.1 with a token in its URL, built on the
daemon's own Engine API, served read-only (docs/decisions.md D-dash-1)."""
