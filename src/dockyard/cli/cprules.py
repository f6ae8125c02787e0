"""docker-cli's `cp` path rules (S11), pure: Go path semantics, CONTAINER:PATH splitting, and
go-archive's PrepareArchiveCopy decision table (REFERENCE §3.6). cli/cp.py does the I/O."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

# go-archive's error texts, printed as is by the docker CLI.
ERR_DIR_NOT_EXISTS = "no such directory"
ERR_CANNOT_COPY_DIR = "cannot copy directory"
ERR_NOT_DIRECTORY = "not a directory"


class CopyRuleError(Exception):
    pass


def go_clean(path: str) -> str:
    """Go's filepath.Clean ("" -> ".", "//a" -> "/a")."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("/") else cleaned


def go_base(path: str) -> str:
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else "."
    return stripped.rsplit("/", 1)[-1]


def go_dir(path: str) -> str:
    head = path[: path.rfind("/") + 1] if "/" in path else ""
    return go_clean(head) if head else "."


def has_trailing_separator(path: str) -> bool:
    return path.endswith("/")


def specifies_current_dir(path: str) -> bool:
    return go_base(path) == "."


def asserts_directory(path: str) -> bool:
    return has_trailing_separator(path) or specifies_current_dir(path)


def preserve_trailing(cleaned: str, original: str) -> str:
    """go-archive's PreserveTrailingDotOrSeparator."""
    if not specifies_current_dir(cleaned) and specifies_current_dir(original):
        if not has_trailing_separator(cleaned):
            cleaned += "/"
        cleaned += "."
    if not has_trailing_separator(cleaned) and has_trailing_separator(original):
        cleaned += "/"
    return cleaned


def split_path_dir_entry(path: str) -> tuple[str, str]:
    """(dir, base) of the cleaned path, keeping a trailing "." ("a/." -> ("a", "."))."""
    cleaned = go_clean(path)
    if specifies_current_dir(path):
        cleaned += "/."
    return go_dir(cleaned), go_base(cleaned)


def split_cp_arg(arg: str) -> tuple[str, str]:
    """CONTAINER:PATH -> (container, path); a local path is ("", arg). A local path containing
    ":" must be made explicit with "/" or "./", as with scp."""
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """go-archive's GetRebaseName: the resolved path with the original's trailing "/." or "/",
    and the name the archive's top entry must take ("" when unchanged)."""
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved += "/."
    if has_trailing_separator(path) and not has_trailing_separator(resolved):
        resolved += "/"
    return resolved, (go_base(path) if go_base(path) != go_base(resolved) else "")


def rebase(name: str, old: str, new: str) -> str:
    """Rename the top of one archive entry (RebaseArchiveEntries; "/" counts as "")."""
    if old == "/":
        old = ""
    return new + name[len(old) :] if name.startswith(old) else name


@dataclass(frozen=True)
class CopyInfo:
    path: str
    exists: bool = False
    is_dir: bool = False
    rebase_name: str = ""


@dataclass(frozen=True)
class Placement:
    """Where to extract, and how to rename the archive's top entry (old -> new) first."""

    directory: str
    old: str = ""
    new: str = ""

    def name(self, entry: str) -> str:
        return rebase(entry, self.old, self.new) if self.new else entry


def prepare_archive_copy(src: CopyInfo, dst: CopyInfo) -> Placement:
    """go-archive's PrepareArchiveCopy, case by case."""
    dst_dir, dst_base = split_path_dir_entry(dst.path)
    _, src_base = split_path_dir_entry(src.path)
    src_base = src.rebase_name or src_base
    if dst.exists and dst.is_dir:
        return Placement(dst.path)  # 1. extract into the directory as is
    if dst.exists and src.is_dir:
        raise CopyRuleError(ERR_CANNOT_COPY_DIR)  # 2. a directory over a file
    if dst.exists or src.is_dir:
        return Placement(dst_dir, src_base, dst_base)  # 3./4. into the parent, renamed
    if asserts_directory(dst.path):
        raise CopyRuleError(ERR_DIR_NOT_EXISTS)  # 5. "dir/" that does not exist, file source
    return Placement(dst_dir, src_base, dst_base)  # 6. a new file in the parent


def link_target_path(path: str, link_target: str) -> str:
    """A symlink's target as a path: a relative one is joined with the link's parent."""
    if link_target.startswith("/"):
        return link_target
    parent, _ = split_path_dir_entry(path)
    return go_clean(posixpath.join(parent, link_target))
