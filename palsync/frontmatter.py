"""Markdown manifests (DESIGN 2): which files they are, and their text → YAML front matter and body.

Plain text work, no YAML and no file reading: `manifest` decides what to load with it and
`yamldoc` parses the front matter it splits off.
"""

from __future__ import annotations

from typing import NamedTuple


def is_markdown(path: str) -> bool:
    """A `.md` manifest: YAML front matter, and the Markdown body is `system_prompt`."""
    return path.lower().endswith(".md")


def front_matter_delimiter(line: str) -> bool:
    return line.rstrip(" \t\r") == "---"


class FrontMatter(NamedTuple):
    #: the front matter with its first line blanked out, so YAML's line numbers are the file's
    yaml_text: str
    #: the Markdown body (one blank line after the closing `---` and the final newline are
    #: layout, not prompt), None when empty
    body: str | None
    #: the file's line where the body starts
    body_line: int


class FrontMatterError(NamedTuple):
    message: str
    line: int


def split_front_matter(text: str) -> FrontMatter | FrontMatterError:
    """A `.md` manifest's text → its front matter (YAML) and body (the system prompt)."""
    lines = text.split("\n")
    if not front_matter_delimiter(lines[0]):
        return FrontMatterError(
            "no YAML front matter: a .md manifest starts with a `---` line, then the PAL's "
            "fields, then a closing `---` line and the system prompt in Markdown (a Markdown "
            "file that is not a PAL needs a name no key has, such as README.md)",
            1,
        )
    end = next((i for i in range(1, len(lines)) if front_matter_delimiter(lines[i])), None)
    if end is None:
        return FrontMatterError(
            "the front matter is not closed: add a `---` line after the PAL's fields "
            "(the Markdown body below it is the system prompt)",
            len(lines),
        )
    yaml_text = "\n" + "\n".join(lines[1:end]) + "\n"
    rest = lines[end + 1 :]
    body_line = end + 2
    if len(rest) > 1 and rest[0].strip(" \t\r") == "":
        rest, body_line = rest[1:], body_line + 1
    body = "\n".join(rest)
    if body.endswith("\n"):
        body = body[:-1]
        if body.endswith("\r"):
            body = body[:-1]
    return FrontMatter(yaml_text, body if body.strip() else None, body_line)
