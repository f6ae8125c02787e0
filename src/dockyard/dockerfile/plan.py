"""The build plan (MISSION S1), pure: the parsed Dockerfile split into global ARGs and stages,
the target cut, the step count `Step n/N` prints, and the build options of `POST /build`."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.dockerfile import expand
from dockyard.dockerfile.parser import Instruction
from dockyard.errors import InvalidParameter


@dataclass
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    buildargs: dict[str, str | None] = field(default_factory=dict)
    nocache: bool = False
    rm: bool = True
    forcerm: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    quiet: bool = False
    pull: bool = False
    networkmode: str = ""
    # cache only from these images and their parents (dockerd's cache sources); [] = any
    cachefrom: list[str] = field(default_factory=list)
    extrahosts: list[str] = field(default_factory=list)  # `host:ip`, for RUN's /etc/hosts


@dataclass
class Stage:
    index: int
    name: str  # lower-cased `AS name`, or ""
    base: Instruction  # the FROM
    commands: list[Instruction]


@dataclass
class Plan:
    meta_args: list[Instruction]
    stages: list[Stage]
    escape: str

    @property
    def total(self) -> int:
        return len(self.meta_args) + sum(1 + len(s.commands) for s in self.stages)


def stage_name(ins: Instruction) -> str:
    words = expand.raw_words(ins.rest)
    if len(words) == 3 and words[1].lower() == "as":
        return words[2].lower()
    if len(words) not in (1, 3):
        raise InvalidParameter(
            f"dockerfile parse error line {ins.line}: FROM requires either one or three arguments"
        )
    return ""


def make_plan(instructions: list[Instruction], escape: str, opts: BuildOptions) -> Plan:
    meta: list[Instruction] = []
    stages: list[Stage] = []
    for ins in instructions:
        if ins.cmd == "FROM":
            stages.append(Stage(len(stages), stage_name(ins), ins, []))
        elif not stages:
            if ins.cmd != "ARG":
                raise InvalidParameter("no build stage in current context")
            meta.append(ins)
        else:
            stages[-1].commands.append(ins)
    if not stages:
        raise InvalidParameter("no build stage in current context")
    if opts.target:
        names = [s.name for s in stages]
        if opts.target.lower() not in names:
            raise InvalidParameter(f"failed to reach build target {opts.target} in Dockerfile")
        stages = stages[: names.index(opts.target.lower()) + 1]
    if opts.labels:
        # Docker adds the API's labels as one more LABEL step of the final stage.
        text = " ".join(f"\"{k}\"='{v}'" for k, v in sorted(opts.labels.items()))
        last = stages[-1]
        last.commands.append(Instruction("LABEL", text, 0, "LABEL " + text))
    return Plan(meta, stages, escape)
