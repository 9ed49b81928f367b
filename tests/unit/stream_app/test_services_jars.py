"""Kafka jar resolution into a shared cache: concurrent resolvers must not collide.

A fake ``mvn`` on PATH writes the jars slowly into ``-DoutputDirectory`` and counts its runs,
so the tests exercise the real lock / re-check / rename code without the network.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from schemas.errors import ServiceError
from stream_app.stack.kafka import resolve_jars

VERSION = "9.9.9"

_FAKE_MVN = """#!/bin/sh
# fake mvn: copy-dependencies into -DoutputDirectory, slowly, and count the runs
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${{arg#-DoutputDirectory=}}" ;; esac
done
echo run >> "{counter}"
mkdir -p "$out"
sleep 0.3
: > "$out/kafka-clients-{v}.jar"
sleep 0.3
: > "$out/kafka_2.13-{v}.jar"
: > "$out/log4j-slf4j-impl-2.24.3.jar"
"""


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a fake ``mvn`` first on PATH; the returned file gets one line per mvn run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    counter = tmp_path / "mvn-runs.txt"
    mvn = bin_dir / "mvn"
    mvn.write_text(_FAKE_MVN.format(counter=counter, v=VERSION))
    mvn.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return counter


def _runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def _resolve_in_threads(cache: Path, n: int) -> tuple[list[Path], list[BaseException]]:
    barrier = threading.Barrier(n)
    results: list[Path] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(resolve_jars(VERSION, cache, "", lambda _line: None))
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


def test_two_resolvers_at_once_give_one_good_libs_and_no_error(
    tmp_path: Path, fake_mvn: Path
) -> None:
    cache = tmp_path / "cache"
    results, errors = _resolve_in_threads(cache, 2)
    assert errors == []
    libs = cache / f"kafka-{VERSION}" / "libs"
    assert results == [libs, libs]
    assert sorted(p.name for p in libs.iterdir()) == [
        f"kafka-clients-{VERSION}.jar",
        f"kafka_2.13-{VERSION}.jar",
        "log4j-slf4j-impl-2.24.3.jar",
    ]
    assert _runs(fake_mvn) == 1  # the second one found the first one's jars once it had the lock
    leftovers = [p.name for p in libs.parent.iterdir() if p.name.startswith("libs.")]
    assert leftovers == []


def test_resolver_waits_for_the_lock_then_uses_what_the_holder_cached(
    tmp_path: Path, fake_mvn: Path
) -> None:
    home = tmp_path / "cache" / f"kafka-{VERSION}"
    home.mkdir(parents=True)
    results, errors = [], []
    with (home.parent / f"kafka-{VERSION}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process is resolving
        thread = threading.Thread(
            target=lambda: _collect(results, errors, tmp_path / "cache"), daemon=True
        )
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive() and results == [] and errors == []  # blocked on the lock
        (home / "libs").mkdir()
        (home / "libs" / f"kafka_2.13-{VERSION}.jar").write_bytes(b"")
        fcntl.flock(lock, fcntl.LOCK_UN)
    thread.join(timeout=10)
    assert errors == [] and results == [home / "libs"]
    assert _runs(fake_mvn) == 0  # re-checked under the lock: no second download


def test_incomplete_libs_is_replaced_and_stale_partials_are_removed(
    tmp_path: Path, fake_mvn: Path
) -> None:
    home = tmp_path / "cache" / f"kafka-{VERSION}"
    (home / "libs").mkdir(parents=True)
    (home / "libs" / "half-copied.jar").write_bytes(b"")  # no kafka_2.13 jar: incomplete
    (home / "libs.partial").mkdir()  # left by a killed run of an older version
    (home / "libs.partial-abc123").mkdir()
    libs = resolve_jars(VERSION, tmp_path / "cache", "", lambda _line: None)
    assert libs == home / "libs"
    assert (libs / f"kafka_2.13-{VERSION}.jar").is_file()
    assert not (libs / "half-copied.jar").exists()
    assert sorted(p.name for p in home.iterdir() if p.name.startswith("libs")) == ["libs"]


def _collect(results: list[Path], errors: list[BaseException], cache: Path) -> None:
    try:
        results.append(resolve_jars(VERSION, cache, "", lambda _line: None))
    except BaseException as exc:  # asserted on by the caller
        errors.append(exc)


@pytest.mark.parametrize(
    ("error", "names_versions"),
    [
        (
            "[ERROR] Failed to execute goal on project kafka-runtime: Could not resolve "
            "dependencies: Could not find artifact org.apache.kafka:kafka_2.13:jar:9.9.9",
            True,
        ),
        (
            "[ERROR] Failed to execute goal on project kafka-runtime: Could not transfer "
            "artifact org.apache.kafka:kafka_2.13:pom:9.9.9: repo1.maven.org: Unknown host",
            False,
        ),
        ("", False),
    ],
)
def test_failed_mvn_links_the_versions_only_when_the_artifact_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str, names_versions: bool
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mvn").write_text(f"#!/bin/sh\necho '{error}'\nexit 1\n")
    (bin_dir / "mvn").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ServiceError, match=f"mvn could not resolve Kafka {VERSION} \\(exit 1") as e:
        resolve_jars(VERSION, tmp_path / "cache", "", lambda _line: None)
    assert ("repo1.maven.org/maven2/org/apache/kafka" in str(e.value)) is names_versions
    home = tmp_path / "cache" / f"kafka-{VERSION}"
    assert [p.name for p in home.iterdir() if p.name.startswith("libs")] == []  # no debris
