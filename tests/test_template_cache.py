"""The compiled-template cache (meshform.modes.template_cache) only ever makes a run faster: a hit,
a miss, a cache that is off, absent, unwritable, corrupt, forged, planted by another user or written
by runs at once all give the same bytes, exit 0, and the sandbox's budget still holds.

"Did the run read the cache?" is answered by the file itself: a hit leaves it untouched (same inode),
a miss compiles and writes it anew (a new inode)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from meshform.diagnostics import MeshformError
from meshform.modes import template_cache as tc
from meshform.modes import templating
from meshform.version import __version__

SOURCE = "templates/t.j2"
TEXT = "name: {{ name | tojson }}\nimage: {{ image | tojson }}\n"
VALUES = {"name": "px", "image": "proxy:1"}
OTHER = "name: planted\nimage: evil\n"  # what a forged entry would make of TEXT
FIXTURE = ROOT / "tests" / "fixtures" / "bounds"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache and key of this test's own, and no template compiled yet in this process."""
    monkeypatch.setenv(tc.ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    templating._compile.cache_clear()
    yield tmp_path / "cache"
    templating._compile.cache_clear()


def _render(text: str = TEXT) -> str:
    templating._compile.cache_clear()  # as a new run would: compile (or load) afresh
    return templating.render_text(text, VALUES, SOURCE)


def _entry(folder: Path) -> Path:
    (found,) = folder.glob("*.jinja")
    return found


def _signed(text: str, code_of: str, key: bytes) -> bytes:
    """A whole cache file for `text` holding the code of `code_of`, signed with `key`."""
    env = templating._environment()
    return tc.TemplateCache(Path("."), key).file_of(env.compile(code_of), _checksum(text))


def _checksum(text: str) -> str:
    return tc.TemplateCache(Path("."), b"").get_source_checksum(text)


def test_a_second_run_reads_the_entry_and_renders_the_same(cache: Path) -> None:
    first = _render()
    entry = _entry(cache)
    inode = entry.stat().st_ino
    assert _render() == first == 'name: "px"\nimage: "proxy:1"\n'
    assert entry.stat().st_ino == inode  # read, not compiled and written again
    assert oct(cache.stat().st_mode & 0o777) == "0o700" and oct(entry.stat().st_mode & 0o777) == "0o600"
    assert oct(tc.key_path().stat().st_mode & 0o777) == "0o600"
    assert tc.key_path().parent.parent == cache.parent / "state"  # outside the cache directory


def test_an_edited_template_is_compiled_afresh(cache: Path) -> None:
    _render()
    assert _render(TEXT + "args: [x]\n").endswith("args: [x]\n")


@pytest.mark.parametrize("setting", ["off", "0", "OFF", "no", "false"])
def test_the_cache_can_be_turned_off(cache: Path, monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    monkeypatch.setenv(tc.ENV_VAR, setting)
    assert _render() == 'name: "px"\nimage: "proxy:1"\n'
    assert not cache.exists() and not (cache.parent / "state").exists()


def test_default_places_follow_xdg_and_ignore_relative_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tc.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg/cache")
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # invalid per the XDG spec
    assert tc.directory() == Path("/xdg/cache/meshform/templates")
    assert tc.key_path() == Path.home() / ".local/state/meshform/template-cache.key"


@pytest.mark.parametrize("where", ["cache", "key"])
def test_an_unwritable_place_compiles_as_without_a_cache(
    cache: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    blocker = cache.parent / "a-file"
    blocker.write_text("not a directory\n")
    monkeypatch.setenv(tc.ENV_VAR if where == "cache" else "XDG_STATE_HOME", str(blocker / "below"))
    assert _render() == _render() == 'name: "px"\nimage: "proxy:1"\n'
    assert not list(cache.parent.rglob("*.jinja"))


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",
        lambda data: data[: len(data) // 2],  # a write cut short
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # the tag
        lambda data: data[:200] + bytes([data[200] ^ 1]) + data[201:],  # the code
        lambda data: b"j2" + os.urandom(4000),
        lambda data: data + b"trailing",
    ],
    ids=["empty", "truncated", "tag-flipped", "code-flipped", "garbage", "trailing"],
)
def test_a_corrupt_entry_is_compiled_over(cache: Path, damage: object) -> None:
    first = _render()
    entry = _entry(cache)
    entry.write_bytes(damage(entry.read_bytes()))  # type: ignore[operator]
    assert _render() == first
    assert tc.TemplateCache(cache, tc.user_key() or b"").code_of(entry.read_bytes(), _checksum(TEXT))


def test_an_entry_signed_with_another_key_is_never_run(cache: Path) -> None:
    """A cache copied in from elsewhere (another machine, a CI cache restored from another branch)
    verifies against nobody's key here: its code, whatever it renders, is compiled over."""
    first = _render()
    entry = _entry(cache)
    entry.write_bytes(_signed(TEXT, OTHER, os.urandom(tc.KEY_BYTES)))
    assert _render() == first


def test_the_checksum_is_compared_never_unpickled(cache: Path, tmp_path: Path) -> None:
    first = _render()
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    entry = _entry(cache)
    from jinja2.bccache import bc_magic

    entry.write_bytes(bc_magic + pickle.dumps(Payload(), 2) + b"\0" * 64)
    assert _render() == first
    assert not marker.exists()


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_an_entry_others_may_write_is_not_read(cache: Path, mode: int) -> None:
    first = _render()
    entry = _entry(cache)
    entry.write_bytes(_signed(TEXT, OTHER, tc.user_key() or b""))  # this user's key, planted code
    entry.chmod(mode)
    assert _render() == first


def test_a_cache_directory_others_may_write_is_not_used(cache: Path) -> None:
    first = _render()
    _entry(cache).write_bytes(_signed(TEXT, OTHER, tc.user_key() or b""))
    cache.chmod(0o777)
    try:
        assert _render() == first
    finally:
        cache.chmod(0o700)


def test_a_key_others_may_read_turns_the_cache_off(cache: Path) -> None:
    _render()
    tc.key_path().chmod(0o644)  # anyone could sign entries with it
    assert tc.user_key() is None
    _entry(cache).write_bytes(b"")
    assert _render() == 'name: "px"\nimage: "proxy:1"\n'
    assert _entry(cache).read_bytes() == b""  # not used, not written


def test_a_linked_entry_is_not_followed(cache: Path, tmp_path: Path) -> None:
    first = _render()
    entry = _entry(cache)
    elsewhere = tmp_path / "elsewhere.jinja"
    elsewhere.write_bytes(_signed(TEXT, OTHER, tc.user_key() or b""))
    entry.unlink()
    entry.symlink_to(elsewhere)
    assert _render() == first


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_an_entry_of_another_user_is_not_read(cache: Path) -> None:
    first = _render()
    entry = _entry(cache)
    entry.write_bytes(_signed(TEXT, OTHER, tc.user_key() or b""))
    os.chown(entry, 12345, 12345)
    assert _render() == first


def test_the_budget_applies_to_a_cached_template(cache: Path) -> None:
    """A template that compiles within the budget is kept; running it still stops at the budget."""
    loops = (FIXTURE / "templates" / "silent-loops.j2").read_text()
    for _ in range(2):
        with pytest.raises(MeshformError) as info:
            _render(loops)
        assert info.value.diagnostics[0].code == "MF030" and "steps" in info.value.diagnostics[0].message
    assert len(list(cache.glob("*.jinja"))) == 1


def test_an_entry_never_lifts_the_template_size_limit(cache: Path) -> None:
    big = TEXT + "#" * templating.MAX_TEMPLATE
    env = templating._environment()
    name = tc.bucket_name(env, __version__, SOURCE)
    bucket = tc.TemplateCache(cache, b"").get_bucket(env, name, None, big)
    cache.mkdir(mode=0o700, parents=True)
    _render()  # makes the key
    (cache / f"{bucket.key}.jinja").write_bytes(_signed(big, TEXT, tc.user_key() or b""))
    with pytest.raises(MeshformError) as info:
        _render(big)
    assert info.value.diagnostics[0].code == "MF030" and "longer than" in info.value.diagnostics[0].message


def test_a_template_that_does_not_compile_is_not_kept(cache: Path) -> None:
    with pytest.raises(MeshformError) as info:
        _render("name: {{ x\n")
    assert info.value.diagnostics[0].code == "MF302"
    assert not list(cache.glob("*.jinja"))


# ------------------------------------------------------------------------- the real CLI, end to end


def _istio(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    stream = ROOT / "tests" / "fixtures" / "istio-inject" / "probes.yaml"
    return run_cli("transform", "--mode", "istio", "--enrollment", "sidecar", str(stream), env=env)


def test_istio_pre_injection_prints_the_same_bytes_cold_warm_and_off(tmp_path: Path) -> None:
    env = {tc.ENV_VAR: str(tmp_path / "cache"), "XDG_STATE_HOME": str(tmp_path / "state")}
    cold, warm, off = (
        _istio(tmp_path, **env),
        _istio(tmp_path, **env),
        _istio(tmp_path, **{tc.ENV_VAR: "off"}),
    )
    assert cold.returncode == warm.returncode == off.returncode == 0, cold.stderr
    assert cold.stdout == warm.stdout == off.stdout and cold.stdout
    assert cold.stderr == warm.stderr == off.stderr
    assert len(list((tmp_path / "cache").glob("*.jinja"))) == 1


def test_runs_at_once_on_an_empty_cache_all_succeed_alike(tmp_path: Path) -> None:
    """Concurrent first runs each compile and write; each reads a whole file or none."""
    env = {**os.environ, tc.ENV_VAR: str(tmp_path / "cache"), "XDG_STATE_HOME": str(tmp_path / "state")}
    stream = ROOT / "tests" / "fixtures" / "istio-inject" / "probes.yaml"
    args = [sys.executable, "-m", "meshform", "transform", "--mode", "istio", "--enrollment", "sidecar"]
    procs = [
        subprocess.Popen([*args, str(stream)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    results = [(p.communicate(timeout=120), p.returncode) for p in procs]
    assert {rc for _, rc in results} == {0}, results[0][0][1]
    assert len({out for (out, _), _ in results}) == 1
    key = (tmp_path / "state" / "meshform" / "template-cache.key").read_bytes()
    (entry,) = (tmp_path / "cache").glob("*.jinja")
    assert tc.TemplateCache(entry.parent, key).code_of(entry.read_bytes(), _checksum(_istio_source()))
    assert not list((tmp_path / "cache").glob(".*.tmp")) and not list((tmp_path / "state").rglob(".*.tmp"))


def _istio_source() -> str:
    from meshform.resources import mesh_template

    return mesh_template("istio", "1.31", "sidecar.yaml.j2")
