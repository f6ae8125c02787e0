"""What `system check` reports (R1, #17): one finding per damaged or leftover object, and
whether `--repair` fixed it. Built by the checkers in storage/check.py and services/check.py;
the API answers the list as JSON (`Kind`, `Object`, `Problem`, `Repaired`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Finding:
    kind: str  # "layer", "container layer", "blob", "image", "temp file", "container", "mount"
    target: str  # the id, digest or path concerned
    problem: str  # what is wrong, in a short sentence
    repairable: bool = False  # `--repair` knows a safe fix
    repaired: bool = False

    def json(self) -> dict[str, object]:
        return {
            "Kind": self.kind,
            "Object": self.target,
            "Problem": self.problem,
            "Repairable": self.repairable,
            "Repaired": self.repaired,
        }


def report(findings: list[Finding]) -> dict[str, object]:
    """The answer of POST /dockyard/system/check: `Errors` when something is left unfixed."""
    return {
        "Errors": any(not f.repaired for f in findings),
        "Findings": [f.json() for f in findings],
    }
