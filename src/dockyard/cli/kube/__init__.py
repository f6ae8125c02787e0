"""`dockyard kube`: Kubernetes manifests from containers (generate) and containers from manifests
(play, down), as a client of the Engine API like docker-compose (#19, E7; D-kube-1)."""
