"""``nzarc codecs``, ``model`` and ``bench``: the installation, its models, the benchmarks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nzarc.cli.common import EXIT_OK, UsageError, print_json, write_line
from nzarc.cli.info import model_store
from nzarc.cli.parser import model_module

__all__ = ["cmd_codecs", "cmd_model", "cmd_bench"]

def cmd_codecs(args: argparse.Namespace) -> int:
    from nzarc.codecs.registry import describe_codecs, get_registry
    from nzarc.planning import auto_candidates

    reg = get_registry()
    rows = describe_codecs(reg)
    auto = {codec_id for codec_id, _, _ in auto_candidates(reg)}
    installed = model_store().installed_status(
        (m for r in rows for m in r["models"]), {d.name: d.weights_sha256 for d in reg.models()}
    )
    for r in rows:
        r["models_installed"] = {m: installed[m] for m in r["models"]}
    if args.json:
        print_json({"codecs": rows, "warnings": list(reg.warnings)})
        return EXIT_OK
    width = max((len(str(r["id"])) for r in rows), default=8)
    for r in rows:
        origin = r.get("distribution") or "built in"
        dv = r.get("distribution_version")
        if dv and r.get("distribution"):
            origin += f" {dv}"
        state = {True: "installed", False: "not installed"}
        models = ", ".join(f"{m} ({state[ok]})" for m, ok in r["models_installed"].items())
        models = f"  models: {models}" if models else ""
        tried = "  (tried by auto)" if r["id"] in auto else ""
        write_line(f"{r['id']:<{width}}  v{r['version']}  {origin} ({r.get('plugin')}){tried}{models}")
    return EXIT_OK


def cmd_model(args: argparse.Namespace) -> int:
    result = model_module().run(args)
    return EXIT_OK if result is None else int(result)


def _repo_root() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "bench").is_dir():
            return parent
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    root = _repo_root()
    if root is None:
        raise UsageError(
            "the benchmark harness is only available from a source checkout",
            hint="run it from a clone of the nzarc repository (installed with pip install -e .)",
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        import bench
    except ImportError as e:
        raise UsageError(f"the benchmark harness cannot be loaded: {e}") from None
    entry = getattr(bench, "main", None)
    if entry is None:
        raise UsageError("the benchmark harness has no entry point (bench.main)")
    return int(entry(list(args.rest)) or 0)
