"""Every pin in requirements.txt has a wheel for every supported Python (requires-python in
pyproject.toml: 3.11 to 3.13) on Linux x86-64 and on macOS arm64; the oldest versions
(tests/oldest/requirements.txt) have theirs for Python 3.11, the one `make test-oldest` runs.

`pip download --only-binary :all: --python-version X --platform P` would answer this, but pip
downloads a wheel to read its metadata whenever the index serves no separate metadata file
(PEP 658), as this project's index does not: 2.0 GB for the six combinations (the sizes
of the wheels, 307 to 364 MB each, most of it TensorFlow). So the test reads each package's
file list from the index once (6 MB for all) and matches the pinned release's wheel
names against each target's tags with `packaging`, whose tags pip uses too;
test_tag_matching_agrees_with_pip checks both find the same numpy and tensorflow versions.
Environment markers (`; sys_platform == "darwin"`) are evaluated for the target, not for
this machine. Needs the index (PIP_INDEX_URL, else PyPI): offline the tests are skipped,
failed in CI (conftest.py).
"""

from __future__ import annotations

import concurrent.futures
import functools
import html
import json
import os
import re
import ssl
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from packaging import tags
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "requirements.txt"
OLDEST_PINS = ROOT / "tests" / "oldest" / "requirements.txt"


def _pip_index() -> str:
    """The index pip itself would read: PIP_INDEX_URL, else pip's own default."""
    from pip._internal.models.index import PyPI      # pip's default index, not spelled out here

    return os.environ.get("PIP_INDEX_URL") or PyPI.simple_url


INDEX = _pip_index().rstrip("/")

# The targets: glibc 2.28 or newer (any current distribution), macOS 14 or newer on Apple silicon.
LINUX_GLIBC_MINOR = 28
MACOS = (14, 0)
PLATFORMS = {
    "linux-x86_64": {
        "tags": [f"manylinux_2_{minor}_x86_64" for minor in range(LINUX_GLIBC_MINOR, 4, -1)]
        + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"],
        "markers": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
    },
    "macos-arm64": {
        "tags": list(tags.mac_platforms(MACOS, "arm64")),
        "markers": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
    },
}


def supported_pythons() -> list[str]:
    """The 3.X that requires-python in pyproject.toml admits."""
    spec = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    return [f"3.{minor}" for minor in range(40) if f"3.{minor}.0" in spec]


def pins(path: Path) -> list[Requirement]:
    """The requirements of a pip requirements file; each must be an exact pin (==)."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            raise ValueError(f"{path.name}:{number}: {line!r}: options are not followed by this test")
        requirement = Requirement(line)
        if [spec.operator for spec in requirement.specifier] != ["=="]:
            raise ValueError(f"{path.name}:{number}: {line!r} is not an exact pin (==)")
        found.append(requirement)
    return found


def applies(requirement: Requirement, python: str, platform: str) -> bool:
    """Whether the requirement's environment marker holds on the target (not on this machine)."""
    if requirement.marker is None:
        return True
    environment = {"python_version": python, "python_full_version": f"{python}.0", "os_name": "posix",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython",
                   **PLATFORMS[platform]["markers"]}
    return requirement.marker.evaluate(environment)


@functools.cache
def target_tags(python: str, platform: str) -> frozenset:
    version = tuple(int(part) for part in python.split("."))
    platforms = PLATFORMS[platform]["tags"]
    return frozenset(tags.cpython_tags(version, platforms=platforms)) | frozenset(
        tags.compatible_tags(version, f"cp{version[0]}{version[1]}", platforms))


def _ssl_context() -> ssl.SSLContext:
    bundle = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    return ssl.create_default_context(cafile=bundle if bundle and os.path.isfile(bundle) else None)


def index_files(name: str) -> list[dict]:
    """[{"filename", "requires-python", "yanked"}] of a project on the index: the JSON simple
    API (PEP 691), or the HTML one (PEP 503) where the index serves only that."""
    request = urllib.request.Request(f"{INDEX}/{canonicalize_name(name)}/", headers={
        "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    with urllib.request.urlopen(request, timeout=60, context=_ssl_context()) as response:
        kind, body = response.headers.get("Content-Type", ""), response.read()
    if "json" in kind:
        return [{"filename": f["filename"], "requires-python": f.get("requires-python"),
                 "yanked": bool(f.get("yanked"))} for f in json.loads(body)["files"]]
    files = []
    for attrs, text in re.findall(r"<a\s([^>]*)>([^<]*)</a>", body.decode()):
        requires = re.search(r'data-requires-python="([^"]*)"', attrs)
        files.append({"filename": html.unescape(text).strip(), "yanked": "data-yanked" in attrs,
                      "requires-python": html.unescape(requires.group(1)) if requires else None})
    return files


def wheels(files: list[dict], yanked: bool = True) -> dict[Version, list[tuple[frozenset, str | None]]]:
    """{version: [(tags, requires-python) of each wheel]}; yanked=False leaves out yanked files
    (pip still installs a yanked release that is pinned with ==, with a warning)."""
    found = {}
    for file in files:
        if not file["filename"].endswith(".whl") or (file["yanked"] and not yanked):
            continue
        try:
            _, version, _, wheel_tags = parse_wheel_filename(file["filename"])
        except (ValueError, InvalidVersion):   # names older than today's rules
            continue
        found.setdefault(version, []).append((wheel_tags, file["requires-python"]))
    return found


def has_wheel(project_wheels: list[tuple[frozenset, str | None]], python: str, platform: str) -> bool:
    return any(wheel_tags & target_tags(python, platform)
               and (not requires or f"{python}.0" in SpecifierSet(requires))
               for wheel_tags, requires in project_wheels)


def missing_wheels(requirements: list[Requirement], index: dict, python: str, platform: str) -> list[str]:
    """Each pin that applies to the target and has no wheel for it, with what it has instead."""
    missing = []
    for requirement in requirements:
        if not applies(requirement, python, platform):
            continue
        pin = f"{requirement.name}=={next(iter(requirement.specifier)).version}"
        version = Version(next(iter(requirement.specifier)).version)
        project_wheels = wheels(index[canonicalize_name(requirement.name)]).get(version)
        if not project_wheels:
            missing.append(f"{pin}: no wheel of this version on {INDEX}")
        elif not has_wheel(project_wheels, python, platform):
            every = [t for wheel_tags, _ in project_wheels for t in wheel_tags]
            pythons = sorted({t.interpreter for t in every}, key=lambda i: (len(i), i))
            platforms = sorted({t.platform for t in every})
            missing.append(f"{pin}: none for this target; it has wheels for {', '.join(pythons)} on "
                           f"{', '.join(platforms)}")
    return missing


@pytest.fixture(scope="session")
def index() -> dict:
    """The file list of every pinned project, fetched once (in parallel)."""
    names = sorted({canonicalize_name(r.name) for path in (PINS, OLDEST_PINS) for r in pins(path)})
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return dict(zip(names, pool.map(index_files, names)))
    except (urllib.error.URLError, OSError) as error:
        pytest.skip(f"the package index {INDEX} cannot be read: {error}")


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("python", supported_pythons())
def test_every_pin_has_a_wheel(index, python, platform):
    missing = missing_wheels(pins(PINS), index, python, platform)
    assert not missing, (f"requirements.txt on CPython {python}, {platform}: no wheel for "
                         + "; ".join(missing))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_oldest_pins_have_wheels_for_python_3_11(index, platform):
    missing = missing_wheels(pins(OLDEST_PINS), index, "3.11", platform)
    assert not missing, (f"tests/oldest/requirements.txt on CPython 3.11, {platform}: no wheel for "
                         + "; ".join(missing))


def test_the_supported_pythons_are_3_11_to_3_13():
    assert supported_pythons() == ["3.11", "3.12", "3.13"]


def test_markers_are_evaluated_for_the_target():
    tensorflow = [r for r in pins(PINS) if r.name.startswith("tensorflow")]
    assert [r.name for r in tensorflow if applies(r, "3.13", "macos-arm64")] == ["tensorflow"]
    assert [r.name for r in tensorflow if applies(r, "3.13", "linux-x86_64")] == ["tensorflow-cpu"]


def test_a_pin_without_a_wheel_is_named(index):
    # numpy 2.4.6 has cp313 wheels for both targets; 1.26.4 (2024) has none for Python 3.13,
    # and numpy 9.9.9 does not exist.
    planted = [Requirement("numpy==1.26.4"), Requirement("keras==3.15.1")]
    assert missing_wheels(planted, index, "3.12", "macos-arm64") == []
    [message] = missing_wheels(planted, index, "3.13", "macos-arm64")
    assert message.startswith("numpy==1.26.4: none for this target; it has wheels for cp39, ")
    assert "cp312 on " in message and "cp313" not in message and "macosx_11_0_arm64" in message
    [message] = missing_wheels([Requirement("numpy==9.9.9")], index, "3.13", "linux-x86_64")
    assert message.startswith("numpy==9.9.9: no wheel of this version")


@pytest.mark.parametrize("project", ["numpy", "tensorflow"])
def test_tag_matching_agrees_with_pip(index, project):
    """Every release with a wheel for CPython 3.13 on each target, by this test and by pip's
    own finder (`pip index versions --only-binary :all:`, which reads the index pages only)."""
    for platform in PLATFORMS:
        ours = sorted((v for v, files in wheels(index[project], yanked=False).items()
                       if not v.is_prerelease and has_wheel(files, "3.13", platform)), reverse=True)
        command = [sys.executable, "-m", "pip", "index", "versions", project, "--isolated",
                   "--index-url", INDEX, "--python-version", "3.13", "--only-binary", ":all:", "--json"]
        for tag in PLATFORMS[platform]["tags"]:
            command += ["--platform", tag]
        if os.environ.get("PIP_CERT"):      # --isolated reads no PIP_ variable
            command += ["--cert", os.environ["PIP_CERT"]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        pips = [Version(v) for v in json.loads(result.stdout)["versions"]] if result.returncode == 0 else []
        assert ours == pips, f"{project} on {platform}: this test finds {ours}, pip {pips} ({result.stderr[-500:]})"
