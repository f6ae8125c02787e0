"""dockyard: a Docker-compatible container engine."""
