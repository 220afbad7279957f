"""The package's schema, from the code: `python -m components.schema` rewrites components/schema.json.

The schema is what `pulumi package add` turns into an SDK for each language, so it is committed and reviewed;
tests/test_component_package.py fails until the committed file matches what the package serves.
Run with `--check` to only compare (exit 1 and say what differs).
"""

import json
import sys
from pathlib import Path

from pulumi.provider.experimental.component import ComponentProvider

from . import MnistPredictor, __version__
from .__main__ import PACKAGE_NAME

SCHEMA_FILE = Path(__file__).resolve().parent / "schema.json"
REGENERATE = "python -m components.schema"


def current() -> dict:
    """The schema the package serves, inferred by the Pulumi SDK from the component and its args."""
    return json.loads(ComponentProvider([MnistPredictor], PACKAGE_NAME, version=__version__).schema)


def render(schema: dict) -> str:
    """The committed form: sorted keys, two-space indent, one trailing newline (stable diffs)."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write the schema file, or with --check compare it; returns the exit status."""
    schema = render(current())
    committed = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.is_file() else ""
    if "--check" in argv:
        if committed == schema:
            return 0
        print(f"{SCHEMA_FILE.name} is out of date: run `{REGENERATE}`", file=sys.stderr)
        return 1
    SCHEMA_FILE.write_text(schema, encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}" + ("" if committed != schema else " (unchanged)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
