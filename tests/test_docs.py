"""The documentation stays true: links resolve, config keys and environment variables match the code, named tests exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import FUNCTION_DIR, ROOT

DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", *DOCS.glob("*.md")])
README_MAX_LINES = 160  # the issue asks for "at most about 150": a front door, not a manual

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
MD_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
HTML_LINK = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"""<a\b[^>]*?\b(?:name|id)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def prose(text: str) -> str:
    """The text a reader sees as prose: fenced blocks and inline code removed (their brackets are not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def links(text: str) -> list[str]:
    """Every link target in Markdown prose: inline, reference-style and HTML links and images."""
    body = prose(text)
    return [*MD_LINK.findall(body), *REF_LINK.findall(body), *HTML_LINK.findall(body)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: rendered text, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\([^)]*\)", r"\1", heading)  # a link renders as its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors a page offers: one per heading (repeats get -1, -2, ... as on GitHub) and explicit HTML ones."""
    text = page.read_text(encoding="utf-8")
    seen: dict[str, int] = {}
    found = set(HTML_ANCHOR.findall(FENCE.sub("", text)))
    for _, title in HEADING.findall(FENCE.sub("", text)):
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def section(page: Path, title: str) -> str:
    """The body of the `## title` section of a page, up to the next `## ` heading."""
    text = page.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"{page.relative_to(ROOT)} has no '## {title}' section"
    return match.group(1)


def first_cells(markdown: str) -> set[str]:
    """Backticked names in the first cell of each table row (header and separator rows have none)."""
    names = set()
    for line in markdown.splitlines():
        if line.startswith("|"):
            names.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def code_config_keys() -> set[str]:
    """The stack config keys of `__main__.py`'s KEYS dict, read without running the Pulumi program."""
    tree = ast.parse((ROOT / "__main__.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "KEYS" for t in node.targets):
            assert isinstance(node.value, ast.Dict), "KEYS in __main__.py is no longer a dict literal"
            return {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    raise AssertionError("__main__.py has no KEYS")


def function_env_vars() -> set[str]:
    """Environment variables the image's code reads (function/, not the local-only function/local/)."""
    pattern = re.compile(r"""(?:os\.environ\.get|os\.getenv|os\.environ\[)\(?\s*["']([A-Z][A-Z0-9_]*)["']""")
    return {name for path in FUNCTION_DIR.glob("*.py") for name in pattern.findall(path.read_text(encoding="utf-8"))}


def name(page: Path) -> str:
    """A page's path from the repository root, for test ids and messages."""
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    # given a documentation page, when each relative link in its prose is followed
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue  # web addresses are not checked offline
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        # then the file exists inside the repository, and the anchor names a heading of it
        if not resolved.exists() or ROOT not in (resolved, *resolved.parents):
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{anchor} in {name(resolved)}")
    assert not broken, f"{name(page)} has broken links: {broken}"


def test_the_link_checker_sees_links_anchors_and_skips_code() -> None:
    # given Markdown with links in prose, in code, and headings that GitHub slugs specially
    text = "See [a](x.md#b-c) and ![img](p.png), `[not](code.md)`.\n```\n[nor](fenced.md)\n```\n[r]: ref.md\n"
    # when its links are listed, then code is skipped and every kind of link is found
    assert sorted(links(text)) == ["p.png", "ref.md", "x.md#b-c"]
    assert slug("`make local`: run it, then *test* (1.2)") == "make-local-run-it-then-test-12"
    assert slug("Calling the API") == "calling-the-api"


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=name)
def test_each_docs_page_opens_with_a_title_and_a_summary_paragraph(page: Path) -> None:
    # given a docs page, when its opening is read
    blocks = page.read_text(encoding="utf-8").split("\n\n")
    # then it is a title followed by a paragraph of prose, not a list, table, heading or code
    assert re.fullmatch(r"# \S.*", blocks[0].strip()), f"{name(page)} must start with a '# Title' line"
    summary = blocks[1].strip()
    assert summary[:1].isalnum() or summary[:1] in "`[*", f"{name(page)} must open with a summary paragraph"
    assert len(summary) >= 100, f"{name(page)}'s summary paragraph is too short to summarise it"


def test_readme_is_a_short_front_door_starting_with_the_two_commands() -> None:
    # given the README
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    # then it stays short, and its first command block runs it locally and then runs the tests
    assert len(text.splitlines()) <= README_MAX_LINES, "README.md is for starting; move reference material to docs/"
    first_sh = re.search(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert first_sh, "README.md has no sh block"
    commands = [line.split("#")[0].strip() for line in first_sh.group(1).splitlines() if line.split("#")[0].strip()]
    assert commands[:2] == ["make local", "make test"]


def test_readme_links_every_docs_page() -> None:
    # given the README's links, then each page in docs/ is one click away from it
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links((ROOT / "README.md").read_text(encoding="utf-8"))}
    missing = [name(page) for page in sorted(DOCS.glob("*.md")) if page.resolve() not in linked]
    assert not missing, f"README.md's documentation index does not link {missing}"


def test_every_stack_config_key_is_documented_and_every_documented_key_exists() -> None:
    # given the keys `__main__.py` reads and the keys docs/configuration.md documents
    in_code = code_config_keys()
    documented = first_cells(section(DOCS / "configuration.md", "Stack configuration"))
    # then they are the same set
    assert in_code - documented == set(), f"add these keys to docs/configuration.md: {sorted(in_code - documented)}"
    assert documented - in_code == set(), f"documented but not in __main__.py KEYS: {sorted(documented - in_code)}"


def test_every_environment_variable_the_function_reads_is_documented() -> None:
    # given the variables the function's code reads, and docs/configuration.md's environment table
    in_code = function_env_vars()
    documented = first_cells(section(DOCS / "configuration.md", "Function environment"))
    # then each one read is documented (the table may also list variables boto3 reads for us)
    assert {"MODEL_DIR", "ALLOWED_BUCKETS"} <= in_code, "the scan for environment variables found too little"
    assert in_code - documented == set(), f"add to docs/configuration.md: {sorted(in_code - documented)}"


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_test_named_in_the_docs_exists(page: Path) -> None:
    # given the test files and test functions a page cites as proof (`::name` continues the last file named)
    missing, current = [], None
    spans = re.findall(r"`(?:tests/)?(test_\w+\.py)?(?:::(\w+))?[^`]*`", FENCE.sub("", page.read_text(encoding="utf-8")))
    for file, test in spans:
        if file:
            current = ROOT / "tests" / file
            if not current.is_file():
                missing.append(file)
        if test and current is not None and current.is_file():
            if not re.search(rf"^def {re.escape(test)}\(", current.read_text(encoding="utf-8"), re.MULTILINE):
                missing.append(f"{current.name}::{test}")
    # then each of them exists
    assert not missing, f"{name(page)} cites tests that do not exist: {missing}"
