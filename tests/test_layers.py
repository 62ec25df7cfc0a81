"""Every module of the project's packages has its layer in .importlinter (README "Layers"):
a module left out would escape the import contract that lint-imports checks in CI."""

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("portal", "cascades", "attestations", "payouts")


def modules():
    """Each package's top-level modules and subpackages, as dotted names."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).iterdir():
            if path.name.startswith(("_", ".")):
                continue
            if path.suffix == ".py" or (path / "__init__.py").exists():
                found.add(f"{package}.{path.stem}")
    return found


def layered():
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    layers = config["importlinter:contract:layers"]["layers"]
    return {
        name.strip() for line in layers.splitlines() for name in line.split(":") if name.strip()
    }


def test_every_module_has_a_layer():
    missing = sorted(modules() - layered())
    assert not missing, f"give these modules a layer in .importlinter: {missing}"


def test_every_layered_module_exists():
    assert layered() <= modules()
