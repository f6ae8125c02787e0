"""The embedded DNS server at 127.0.0.11 (N5): names.py (who is called what, per network),
answer.py (packets), upstream.py (forwarding), server.py (sockets in each container's netns)."""
