"""The labels `kube play` puts on what it makes, so `kube down` removes exactly that (#19, E7)."""

KUBE_PREFIX = "io.dockyard.kube."
POD = KUBE_PREFIX + "pod"  # on every container and volume play made: the pod's name
INFRA = KUBE_PREFIX + "infra"  # "true" on the container holding the pod's network namespace
KIND = KUBE_PREFIX + "kind"  # the manifest kind the pod came from: Pod or Deployment
OWNER = KUBE_PREFIX + "owner"  # "Pod/name", "Deployment/name", "PersistentVolumeClaim/name"
VOLUME_NAME = "volume.dockyard.io/name"  # a PVC annotation: the Docker volume it stands for
