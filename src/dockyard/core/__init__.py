"""The core floor: contracts and value types shared across the engine's packages (Json, events,
layers, the container record, the lifecycle hooks) and small pure helpers (times, filters, tar
member paths). It imports nothing from the rest of dockyard except `errors`; everything else may
import it."""
