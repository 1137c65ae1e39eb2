"""`python -m bench`: meshform against kustomize, the YAML floor and (Istio pre-injection) istioctl
kube-inject on the same stream, in one run, in alternation.

Reports median wall time and peak RSS per contender and size, the ratios meshform/kustomize and
meshform/floor, whether each target of the performance issue is met, a JSON file and a PNG plot.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.corpus import application, hand_written, stream

ROOT = Path(__file__).resolve().parent.parent
MESHFORM = [sys.executable, "-m", "meshform"]


@dataclass(frozen=True)
class Sample:
    contender: str
    n: int
    seconds: float
    rss_mib: float
    cpu_s: float  # user + system CPU of the child: on a shared machine the honest ratio


def run_once(cmd: list[str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of one child process, measured
    by the kernel (wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def kustomize_binary() -> str:
    script = ROOT / "tests" / "tools" / "build.sh"
    found = subprocess.run(["bash", str(script), "--print-path", "kustomize"], capture_output=True, text=True)
    if found.returncode != 0:
        subprocess.run(["bash", str(script), "kustomize"], check=True)
        found = subprocess.run(
            ["bash", str(script), "--print-path", "kustomize"], capture_output=True, text=True
        )
    return found.stdout.strip()


def istioctl_binary() -> str | None:
    """The istioctl build.sh built, or None: it is never built here (~13 min cold)."""
    script = ROOT / "tests" / "tools" / "build.sh"
    found = subprocess.run(["bash", str(script), "--print-path", "istioctl"], capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else None


def istio_inputs(work: Path, istioctl: str) -> Path:
    """The injector's inputs of a default install (`istioctl manifest generate`): the ConfigMaps for
    meshform, the bare config/values/mesh for kube-inject, and meshform's transformer config."""
    out = subprocess.run(
        [istioctl, "manifest", "generate", "--set", "hub=docker.io/istio", "--set", "tag=1.31-dev"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import yaml

    maps = {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all(out)
        if isinstance(d, dict) and d.get("kind") == "ConfigMap"
    }
    d = work / "istio"
    d.mkdir()
    injector, mesh = maps["istio-sidecar-injector"], maps["istio"]
    (d / "inject-config.yaml").write_text(injector["data"]["config"])
    (d / "values.json").write_text(injector["data"]["values"])
    (d / "mesh.yaml").write_text(mesh["data"]["mesh"])
    (d / "istio-sidecar-injector.yaml").write_text(yaml.safe_dump(injector))
    (d / "istio.yaml").write_text(yaml.safe_dump(mesh))
    (d / "meshform.yaml").write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: bench}\n"
        "spec:\n  mode: istio\n  enrollment: sidecar\n  modeOptions:\n    istio:\n"
        "      valuesFile: istio-sidecar-injector.yaml\n      meshConfigFile: istio.yaml\n"
        "      nativeSidecar: true\n"
    )
    return d


def istio_commands(istio: Path, istioctl: str, stream_file: Path) -> dict[str, list[str]]:
    """Istio pre-injection of the stream by meshform (with its compiled template cached, as every run
    after a user's first; and with the cache off, as a first run) and by istioctl kube-inject (native
    sidecars)."""
    meshform = [*MESHFORM, "transform", "--config", str(istio / "meshform.yaml"), str(stream_file)]
    return {
        "meshform-istio-sidecar": meshform,
        "meshform-istio-sidecar-nocache": ["env", "MESHFORM_TEMPLATE_CACHE=off", *meshform],
        "istioctl-kube-inject": [
            "env",
            "ENABLE_NATIVE_SIDECARS=true",
            istioctl,
            "kube-inject",
            "--injectConfigFile",
            str(istio / "inject-config.yaml"),
            "--meshConfigFile",
            str(istio / "mesh.yaml"),
            "--valuesFile",
            str(istio / "values.json"),
            "--revision",
            "default",
            "-f",
            str(stream_file),
        ],
    }


def byte_compile() -> None:
    """Compile meshform (and the bench's floor) to .pyc once, as `pip install` does: an editable
    install under PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module from source in every
    timed run (~50 ms), which no installed meshform does."""
    import meshform

    package = Path(meshform.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package), str(ROOT / "bench")], check=True)
    print(f"byte-compiled {package} and bench/ (python -m compileall), as pip install does", file=sys.stderr)


def private_caches(work: Path) -> None:
    """The children's template cache and its key in the work directory: the bench neither reads nor
    changes the user's own, and starts cold (the first timed run fills it, unless warmed)."""
    os.environ["MESHFORM_TEMPLATE_CACHE"] = str(work / "template-cache")
    os.environ["XDG_STATE_HOME"] = str(work / "state")


def prepare(work: Path, n: int) -> dict[str, list[str]]:
    """Inputs for one size, and the command of each contender."""
    d = work / f"n{n}"
    d.mkdir()
    (d / "stream.yaml").write_text(stream(n))
    (d / "commented.yaml").write_text(stream(n, comments=True))
    (d / "hand.yaml").write_text(hand_written(n))
    (d / "app.yaml").write_text(application(n))
    (d / "kustomization.yaml").write_text(
        "resources:\n- stream.yaml\n"
        'labels:\n- pairs:\n    sidecar.istio.io/inject: "true"\n  includeTemplates: true\n'
    )
    return {
        "meshform-labels": [*MESHFORM, "transform", str(d / "stream.yaml"), "--mode", "istio"],
        "meshform-builtin-sidecar": [
            *MESHFORM,
            "transform",
            str(d / "stream.yaml"),
            "--mode",
            "builtin",
            "--enrollment",
            "sidecar",
        ],
        "meshform-render": [*MESHFORM, "render", str(d / "app.yaml")],
        "meshform-comments": [
            *MESHFORM,
            "transform",
            str(d / "commented.yaml"),
            "--mode",
            "istio",
            "--preserve-comments",
        ],
        "meshform-comments-hand": [
            *MESHFORM,
            "transform",
            str(d / "hand.yaml"),
            "--mode",
            "istio",
            "--preserve-comments",
        ],
        # --in-place on a fresh copy each run (a second run on the same file would change nothing)
        "meshform-in-place": [
            "sh",
            "-c",
            'cp "$0" "$1" && exec "$2" -m meshform transform "$1" --mode istio --in-place',
            str(d / "commented.yaml"),
            str(d / "in-place.yaml"),
            sys.executable,
        ],
        "floor": [sys.executable, "-m", "bench.floor", str(d / "stream.yaml")],
        "kustomize": ["KUSTOMIZE", "build", str(d)],
    }


def check_comments_kept(work: Path, n: int) -> None:
    """The comment-preserving path must really keep them (every input comment line is in the
    output) and read as the fast path's output, on both corpora."""
    import yaml

    for name in ("commented.yaml", "hand.yaml"):
        src = (work / f"n{n}" / name).read_text()
        out, fast = (
            subprocess.run(
                [*MESHFORM, "transform", "-", "--mode", "istio", *flags],
                input=src,
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            ).stdout
            for flags in (["--preserve-comments"], [])
        )
        missing = [ln for ln in src.splitlines() if "#" in ln and ln not in out]
        if missing:
            raise SystemExit(f"comments lost at N={n} ({name}): {missing[:3]}")
        if list(yaml.safe_load_all(out)) != list(yaml.safe_load_all(fast)):
            raise SystemExit(
                f"the comment-preserving output does not read as the fast path's at N={n} ({name})"
            )


def measure(
    sizes: list[int],
    repeats: int,
    kustomize_max: int,
    comments_max: int,
    istio_max: int,
    render_max: int,
    work: Path,
    only: list[str] | None = None,
) -> list[Sample]:
    kustomize = kustomize_binary()
    istioctl = istioctl_binary()
    if istioctl is None:
        print(
            "istioctl is not built (bash tests/tools/build.sh istioctl): Istio rows left out", file=sys.stderr
        )
    istio = istio_inputs(work, istioctl) if istioctl else None
    samples: list[Sample] = []
    for n in sizes:
        commands = prepare(work, n)
        commands["kustomize"][0] = kustomize
        if istio is not None and istioctl is not None and n <= istio_max:
            commands.update(istio_commands(istio, istioctl, work / f"n{n}" / "stream.yaml"))
        if n > kustomize_max:
            del commands["kustomize"]
        if n > render_max:
            del commands["meshform-render"]
        if only:
            commands = {k: v for k, v in commands.items() if any(k.startswith(o) for o in only)}
        if n > comments_max:
            for name in ("meshform-comments", "meshform-comments-hand", "meshform-in-place"):
                commands.pop(name, None)
        elif any(k.startswith(("meshform-comments", "meshform-in-place")) for k in commands):
            check_comments_kept(work, n)
        if "meshform-istio-sidecar" in commands:  # fill the template cache once, untimed
            run_once(commands["meshform-istio-sidecar"], ROOT)
        for _ in range(repeats):  # alternation: machine noise spreads over every contender alike
            for name, cmd in commands.items():
                wall, rss, cpu = run_once(cmd, ROOT)
                samples.append(Sample(name, n, wall, rss, cpu))
                print(f"  N={n:<6} {name:<38} {wall:8.3f} s {cpu:8.3f} cpu s {rss:8.1f} MiB", file=sys.stderr)
    for name, cmd in {
        "meshform-version": [*MESHFORM, "--version"],
        "meshform-render-bookinfo": [*MESHFORM, "render", "examples/bookinfo/app.yaml"],
        **fixed_cost_commands(work, istio, istioctl),
    }.items():
        if only and not any(name.startswith(o) for o in only):
            continue
        for _ in range(max(repeats, 5)):
            wall, rss, cpu = run_once(cmd, ROOT)
            samples.append(Sample(name, 0, wall, rss, cpu))
    return samples


def fixed_cost_commands(work: Path, istio: Path | None, istioctl: str | None) -> dict[str, list[str]]:
    """The same contenders on a stream of one workload: what a run costs before its work (start-up,
    imports, the template), shown in rows of N = 0 named `<contender>-fixed`."""
    d = work / "fixed"
    d.mkdir()
    one = prepare(d, 1)
    commands = {f"{name}-fixed": one[name] for name in ("meshform-labels", "floor")}
    if istio is not None and istioctl is not None:
        for name, cmd in istio_commands(istio, istioctl, d / "n1" / "stream.yaml").items():
            if name.startswith("meshform-"):
                commands[f"{name}-fixed"] = cmd
    return commands


def summarize(samples: list[Sample]) -> list[dict[str, object]]:
    rows: dict[tuple[str, int], list[Sample]] = {}
    for s in samples:
        rows.setdefault((s.contender, s.n), []).append(s)
    table = []
    for (name, n), group in rows.items():
        table.append(
            {
                "contender": name,
                "n": n,
                "median_s": statistics.median(s.seconds for s in group),
                "median_cpu_s": statistics.median(s.cpu_s for s in group),
                "peak_rss_mib": max(s.rss_mib for s in group),
                "runs": len(group),
            }
        )
    by = {(r["contender"], r["n"]): r for r in table}
    for r in table:
        for ref in ("kustomize", "floor"):
            other = by.get((ref, r["n"]))
            r[f"vs_{ref}"] = round(float(r["median_s"]) / float(other["median_s"]), 3) if other else None
    return table


def targets(table: list[dict[str, object]]) -> list[tuple[str, bool | None, str]]:
    by = {(r["contender"], r["n"]): r for r in table}

    def t(name: str, n: int) -> float | None:
        row = by.get((name, n))
        return float(row["median_s"]) if row else None  # type: ignore[arg-type]

    def rss(name: str, n: int) -> float | None:
        row = by.get((name, n))
        return float(row["peak_rss_mib"]) if row else None  # type: ignore[arg-type]

    checks = []

    def add(label: str, value: float | None, ok: bool | None, fmt: str) -> None:
        checks.append((label, ok, fmt.format(value) if value is not None else "not measured"))

    labels, kz, floor = t("meshform-labels", 1000), t("kustomize", 1000), t("floor", 1000)
    ratio = kz / labels if kz and labels else None
    add("N=1000 labels >= 20x faster than kustomize", ratio, ratio >= 20 if ratio else None, "{:.1f}x")
    ratio = labels / floor if labels and floor else None
    add("N=1000 labels within 2x of the floor", ratio, ratio <= 2 if ratio else None, "{:.2f}x floor")
    big = t("meshform-labels", 10000)
    ratio = big / labels if big and labels else None
    add("t(10k)/t(1k) <= 11", ratio, ratio <= 11 if ratio else None, "{:.1f}")
    peak = rss("meshform-labels", 10000)
    add("N=10000 peak RSS <= 500 MiB", peak, peak <= 500 if peak else None, "{:.0f} MiB")
    side = t("meshform-builtin-sidecar", 1000)
    ratio = side / labels if side and labels else None
    add("builtin sidecar within 3x of labels (N=1000)", ratio, ratio <= 3 if ratio else None, "{:.2f}x")
    istio, istioctl = t("meshform-istio-sidecar", 1000), t("istioctl-kube-inject", 1000)
    ratio = istioctl / istio if istio and istioctl else None
    add(
        "N=1000 istio sidecar >= 5x faster than istioctl kube-inject",
        ratio,
        ratio >= 5 if ratio else None,
        "{:.1f}x",
    )
    first = t("meshform-istio-sidecar-nocache", 1000)
    ratio = istioctl / first if first and istioctl else None
    add("  the same, template cache off (a first run)", ratio, ratio >= 5 if ratio else None, "{:.1f}x")
    comments = t("meshform-comments", 1000)
    ratio = kz / comments if kz and comments else None
    add("comment-preserving >= 3x faster than kustomize", ratio, ratio >= 3 if ratio else None, "{:.1f}x")
    ratio = comments / labels if comments and labels else None
    add("comment-preserving within 2x of the fast path", ratio, ratio <= 2 if ratio else None, "{:.2f}x")
    big = t("meshform-comments", 10000)
    ratio = big / comments if big and comments else None
    add("comment-preserving t(10k)/t(1k) <= 11", ratio, ratio <= 11 if ratio else None, "{:.1f}")
    version, bookinfo = t("meshform-version", 0), t("meshform-render-bookinfo", 0)
    add("meshform --version <= 100 ms", version, version <= 0.1 if version else None, "{:.3f} s")
    add("render bookinfo <= 300 ms", bookinfo, bookinfo <= 0.3 if bookinfo else None, "{:.3f} s")
    return checks


def print_table(table: list[dict[str, object]], checks: list[tuple[str, bool | None, str]]) -> None:
    head = ("median s", "cpu s", "peak MiB", "/kustomize", "/floor")
    print(f"{'contender':<38} {'N':>6} {head[0]:>9} {head[1]:>7} {head[2]:>9} {head[3]:>10} {head[4]:>7}")
    for r in sorted(table, key=lambda r: (r["n"], r["contender"])):  # type: ignore[arg-type, return-value]
        vk = "" if r["vs_kustomize"] is None else f"{r['vs_kustomize']:.3f}"
        vf = "" if r["vs_floor"] is None else f"{r['vs_floor']:.2f}"
        name, n, med, rss = r["contender"], r["n"], r["median_s"], r["peak_rss_mib"]
        cpu = r["median_cpu_s"]
        print(f"{name:<38} {n:>6} {med:>9.3f} {cpu:>7.3f} {rss:>9.1f} {vk:>10} {vf:>7}")
    print()
    for label, ok, value in checks:
        mark = "MET " if ok else "MISS" if ok is False else "n/a "
        print(f"[{mark}] {label}: {value}")


def plot(table: list[dict[str, object]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    for name in sorted({str(r["contender"]) for r in table if r["n"]}):
        points = sorted(
            (int(r["n"]), float(r["median_s"]))
            for r in table  # type: ignore[arg-type]
            if r["contender"] == name and r["n"]
        )
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="workloads (N, plus N Services)",
        ylabel="median wall time (s)",
        title="meshform vs kustomize vs YAML floor",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="1,100,1000,10000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kustomize-max", type=int, default=1000, help="largest N to run kustomize on")
    parser.add_argument("--comments-max", type=int, default=10000, help="largest N for the comment path")
    parser.add_argument("--istio-max", type=int, default=1000, help="largest N for Istio pre-injection")
    parser.add_argument(
        "--render-max", type=int, default=1000, help="largest N to render (a chain of N components)"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated contender name prefixes to run (e.g. meshform-comments,kustomize)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="meshform-bench-"))
    byte_compile()
    private_caches(work)
    try:
        sizes = [int(n) for n in args.sizes.split(",")]
        samples = measure(
            sizes,
            args.repeats,
            args.kustomize_max,
            args.comments_max,
            args.istio_max,
            args.render_max,
            work,
            [o for o in args.only.split(",") if o],
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = summarize(samples)
    checks = targets(table)
    print_table(table, checks)
    (out / "results.json").write_text(
        json.dumps(
            {
                "table": table,
                "targets": [{"target": c[0], "met": c[1], "value": c[2]} for c in checks],
                "samples": [asdict(s) for s in samples],
                "python": sys.version.split()[0],
                "byte_compiled": True,
                "template_cache": "warm (one untimed run first); -nocache rows: MESHFORM_TEMPLATE_CACHE=off",
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
        + "\n"
    )
    if plot(table, out / "time-vs-n.png"):
        print(f"\nplot: {out / 'time-vs-n.png'}")
    print(f"json: {out / 'results.json'}")


if __name__ == "__main__":
    main()
