"""nzarc-ppmd: conformance kit, the pyppmd defects it works around, corpus round trips."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pyppmd
import pytest
from nzarc.codecs.registry import Registry
from nzarc.errors import CodecError
from nzarc.testing import check_stress, conformance_suite, text_sample

from nzarc_ppmd import PpmdCodec

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"

PARAMS = [
    {"variant": "H", "order": 6, "memory": 16 << 20},
    {"variant": "I", "order": 6, "memory": 16 << 20},
    {"variant": "I", "order": 2, "memory": 1 << 20},
]

TestPpmdConformance = conformance_suite(
    PpmdCodec, PARAMS, stress=12, stress_marks=[pytest.mark.slow]
)


class OneShotPpmd(PpmdCodec):
    """PPMd encoded the obvious way: one pyppmd ``encode`` call for the whole chunk."""

    def encode(self, chunk: bytes) -> bytes:
        if self.variant == "H":
            encoder = pyppmd.Ppmd7Encoder(self.order, self.memory)
        else:
            encoder = pyppmd.Ppmd8Encoder(self.order, self.memory, 0)
        return encoder.encode(chunk) + encoder.flush(endmark=True)


@pytest.mark.slow
def test_kit_catches_one_shot_pyppmd_encoder() -> None:
    # stress input 6 (seed 1) is 463921 bytes of generated prose; its PPMd var.I order-6
    # code crosses pyppmd's 32 KiB output block boundary inside one symbol.
    with pytest.raises(AssertionError, match="stress round trips failed"):
        check_stress(OneShotPpmd(variant="I", order=6), 7, seed=1)
    check_stress(PpmdCodec(variant="I", order=6), 7, seed=1)


def test_one_shot_output_loses_bytes_at_the_first_block_boundary() -> None:
    from nzarc.testing import stress_inputs

    data = dict(stress_inputs(7, seed=1))["stress-6-text(size=463921,seed=95872739)"]
    good = PpmdCodec(variant="I", order=6).encode(data)
    bad = OneShotPpmd(variant="I", order=6).encode(data)
    assert len(bad) < len(good)
    first_difference = next(i for i, (a, b) in enumerate(zip(good, bad, strict=False)) if a != b)
    assert first_difference == 32 * 1024
    with pytest.raises(CodecError):
        PpmdCodec(variant="I", order=6).decode(bad, len(data))


def test_encoding_in_pieces_is_plain_ppmd_when_nothing_is_lost() -> None:
    data = text_sample(20_000, 3)  # output far below 32 KiB: the one-shot path is intact
    for variant in ("H", "I"):
        assert PpmdCodec(variant=variant).encode(data) == OneShotPpmd(variant=variant).encode(data)


@pytest.mark.parametrize(
    "params",
    [
        {"variant": "J"},
        {"variant": "h"},
        {"order": 1},
        {"order": 17},
        {"order": True},
        {"memory": (1 << 20) - 1},
        {"memory": (256 << 20) + 1},
        {"memory": "16M"},
        {"level": 3},
    ],
)
def test_bad_params_are_rejected(params: dict[str, object]) -> None:
    with pytest.raises(CodecError, match="ppmd.ppmd"):
        PpmdCodec.from_params(params)


def test_truncated_streams_do_not_crash_the_process() -> None:
    # Freeing a pyppmd decoder whose worker thread waits for input aborts the process;
    # run many truncations in a child so a regression shows as a failed exit status.
    script = textwrap.dedent(
        """
        import gc
        from nzarc.errors import CodecError
        from nzarc.testing import text_sample
        from nzarc_ppmd import PpmdCodec
        data = text_sample(30000, 9)
        for variant in ("H", "I"):
            codec = PpmdCodec(variant=variant, order=4, memory=1 << 20)
            blob = codec.encode(data)
            for cut in range(5, len(blob), max(1, len(blob) // 60)):
                try:
                    codec.decode(blob[:cut], len(data))
                except CodecError:
                    pass
                else:
                    raise SystemExit(f"truncation to {cut} accepted")
                gc.collect()
        print("done")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "done"


def test_plugin_is_registered_through_its_entry_point() -> None:
    reg = Registry.load(strict=True, disabled=())
    assert reg.codec_class("ppmd.ppmd", 1) is PpmdCodec
    assert reg.distribution_of("ppmd.ppmd") == "nzarc-ppmd"
    assert [i.plugin for i in reg.codecs() if i.codec_id == "ppmd.ppmd"] == ["ppmd"]


def test_auto_offers_ppmd_and_takes_it_where_it_is_smallest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NZARC_HOME", str(tmp_path))  # no neural model: auto is zstd, xz, ppmd
    from nzarc.planning import auto_candidates
    from nzarc.reader import ArchiveReader
    from nzarc.writer import ArchiveWriter

    assert "ppmd.ppmd" in [cid for cid, _, _ in auto_candidates()]
    text = text_sample(200_000)
    out = io.BytesIO()
    with ArchiveWriter(out, codec="auto", encrypt=False) as writer:
        writer.add_bytes("text", text)
        stats = writer.close()
    assert stats.chunks_per_codec == {"ppmd.ppmd": 1}
    with ArchiveReader(io.BytesIO(out.getvalue())) as reader:
        assert [m.read() for m in reader.iter_members()] == [text]


def _tar(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(directory.iterdir()):
            info = tar.gettarinfo(str(path), arcname=path.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def _corpus_inputs() -> list[tuple[str, bytes]]:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.tsv")
    inputs = [(str(p.relative_to(CORPUS)), p.read_bytes()) for p in files]
    inputs += [(f"tar:{d}", _tar(CORPUS / d)) for d in ("calgary", "canterbury")]
    return inputs


@pytest.mark.corpus
@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs ../shared/corpus next to the repository")
@pytest.mark.parametrize(
    "params",
    [{"variant": "H", "order": 6}, {"variant": "I", "order": 6}, {"variant": "I", "order": 8}],
    ids=["H6", "I6", "I8"],
)
def test_corpus_round_trips_in_1mib_chunks(params: dict[str, object]) -> None:
    codec = PpmdCodec.from_params(params)
    chunk = 1 << 20
    failures = []
    count = 0
    for name, data in _corpus_inputs():
        for start in range(0, max(1, len(data)), chunk):
            piece = data[start : start + chunk]
            count += 1
            try:
                if codec.decode(codec.encode(piece), len(piece)) != piece:
                    failures.append(f"{name}@{start}: wrong bytes")
            except CodecError as exc:
                failures.append(f"{name}@{start}: {exc}")
    assert count > 40
    assert not failures, failures
