"""Fuzzing the command line and the loaders behind it (hypothesis, issue 11).

Whatever the arguments or the header of a small file, a command ends with exit 0 or 2,
prints no traceback, and leaves every input byte for byte as it was. Most runs call
``main()`` in the test process (fast); a few start a real ``python -m segviewer``.
The examples are derandomized, so a run in CI meets the same ones as a run here.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from segviewer.cli import main
from segviewer.io.paths import strip_image_suffix
from segviewer.io.points import write_points
from segviewer.methods.registry import get_method
from segviewer.model.parameters import parameter_specs
from segviewer.model.points import PointPrompt, PointSet
from tests.cli.test_cli_robustness import SUBPROCESS_ENV, write_small_case

FUZZ_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

def mostly(usual, wild) -> st.SearchStrategy:
    """``usual`` five times in six, else ``wild``: most runs get past the argument checks
    and reach the loaders and methods; the rest try the checks themselves."""
    return st.integers(0, 5).flatmap(lambda n: wild if n == 0 else usual)


#: Numbers as a careless or hostile user types them.
WILD_NUMBERS = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1", "2", "3", "255", "256", "65535", "70000",
                     "1e30", "-1e30", "1e-30", "2.5", "0.5", "abc", "", "1,2"]),
    st.integers(-10 ** 6, 10 ** 6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
NUMBERS = mostly(st.sampled_from(["0", "1", "2", "3", "0.5", "1.5", "5", "10"]), WILD_NUMBERS)
LABEL_LISTS = mostly(st.sampled_from(["1", "1,2", "2"]), st.one_of(
    st.sampled_from(["a", "a,b", ",", "-1", "0", "70000", "1,,2", " 1 "]),
    st.lists(st.integers(-3, 300), min_size=1, max_size=3).map(lambda values: ",".join(map(str, values)))))
#: Marks an argument as an output in a template (a file there may be replaced, unless the
#: same command also reads it).
OUTPUT_MARK = ">"
#: Input paths: the real inputs, a folder, a missing file, damaged files.
ANY_INPUT = st.sampled_from(["{image}", "{labels}", "{scribbles}", "{folder}", "{missing}", "{points}",
                             "{not_json}", "{truncated}"])


def input_of(kind: str) -> st.SearchStrategy[str]:
    """Mostly the right input for the place (``"{image}"``), sometimes any other."""
    return mostly(st.just("{%s}" % kind), ANY_INPUT)


#: Outputs: mostly a fresh file in the output folder; else an odd suffix, an input or a folder.
OUTPUTS = mostly(st.sampled_from([".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".seg.nrrd"]).map(
    lambda suffix: "{out}/result" + suffix), st.sampled_from(
    ["{out}/result.png", "{out}/result", "{out}/result.gipl", "{image}", "{labels}", "{scribbles}", "{folder}",
     "{out}"])).map(lambda path: OUTPUT_MARK + path)
JSON_OUTPUTS = mostly(st.just(OUTPUT_MARK + "{out}/info.json"), OUTPUTS)
LABELS = mostly(st.sampled_from(["1", "2"]), WILD_NUMBERS)


def usual_value(spec) -> st.SearchStrategy[str]:
    """A value a user would give ``spec``: one of its choices, a bool, a number in its range."""
    if spec.choices:
        return st.sampled_from([str(choice) for choice in spec.choices])
    if spec.type is bool:
        return st.sampled_from(["true", "false"])
    low = spec.minimum if spec.minimum is not None else -5
    high = spec.maximum if spec.maximum is not None else max(low + 10, 300)
    if spec.type is int:
        return st.integers(int(low), int(high)).map(str)
    return st.floats(low, high).map(repr)


def method_parameters(method: str) -> st.SearchStrategy[list[str]]:
    """Zero to two ``--param`` of ``method``: mostly a known one with a usual value."""
    specs = parameter_specs(get_method(method).Parameters)
    assignment = mostly(st.sampled_from(specs).flatmap(lambda spec: mostly(usual_value(spec), WILD_NUMBERS).map(
        lambda value: f"--param={spec.name}={value}")), st.just("--param=unknown=1"))
    return st.lists(assignment, max_size=2)


def segment_command(method: str) -> st.SearchStrategy[list[str]]:
    return joined(fixed("segment"), one(input_of("image")), fixed(f"--method={method}"),
                  option("--scribbles", input_of("scribbles"), usually=True),
                  option("--points", input_of("points")),
                  option("--label", LABELS), st.one_of(option("--roi-margin", NUMBERS), fixed("--whole-volume")),
                  method_parameters(method), one(OUTPUTS.map(lambda path: f"-o={path}")),
                  option("--info", JSON_OUTPUTS), fixed("-q"))


def option(name: str, values, usually: bool = False) -> st.SearchStrategy[list[str]]:
    """``[]`` or ``["--name=value"]`` (the ``=`` form, so ``-1`` is not read as an option);
    ``usually``: mostly given."""
    given_ = values.map(lambda value: [f"{name}={value}"])
    return mostly(given_, st.just([])) if usually else st.one_of(st.just([]), given_)


def flag(name: str) -> st.SearchStrategy[list[str]]:
    return st.sampled_from([[], [name]])


def joined(*parts) -> st.SearchStrategy[list[str]]:
    return st.tuples(*parts).map(lambda lists: [item for part in lists for item in part])


def fixed(*items: str) -> st.SearchStrategy[list[str]]:
    return st.just(list(items))


def one(strategy) -> st.SearchStrategy[list[str]]:
    return strategy.map(lambda value: [value])


COMMANDS = st.one_of(
    joined(fixed("info"), one(input_of("image")), flag("--json")),
    joined(fixed("convert"), one(mostly(st.sampled_from(["{image}", "{labels}"]), ANY_INPUT)), one(OUTPUTS),
           flag("--labels"), option("--reference", input_of("image"))),
    st.sampled_from(["threshold", "region_growing", "watershed", "graphcut"]).flatmap(segment_command),
    joined(fixed("stats"), one(input_of("image")), one(input_of("labels")), flag("--json")),
    joined(fixed("evaluate"), one(input_of("labels")), one(input_of("labels")), option("--labels", LABEL_LISTS),
           flag("--json"),
           option("--iou-threshold", NUMBERS), option("--empty-distance", NUMBERS), flag("--instances")),
    joined(fixed("simulate"), one(input_of("labels")), one(OUTPUTS.map(lambda path: f"-o={path}")),
           option("--labels", LABEL_LISTS),
           option("--slices", NUMBERS), option("--seed", NUMBERS), option("--brush-radius", NUMBERS),
           option("--background-distance", NUMBERS), option("--points", JSON_OUTPUTS), flag("--no-background")),
)


# -- inputs and what must not change ----------------------------------------------------------
def checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (and which files there are)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """The inputs every example may name, in one folder whose checksums are compared."""
    folder = tmp_path_factory.mktemp("inputs")
    paths = write_small_case(folder)
    clicks = [PointPrompt((0.0, 0.0, 12.0), 1), PointPrompt((-7.0, -7.0, 12.0), 1, positive=False)]
    write_points(folder / "points.json", PointSet(clicks))
    (folder / "not_json.nii.gz").write_text("not an image\n")
    (folder / "truncated.nii.gz").write_bytes(paths["image"].read_bytes()[:200])
    (folder / "sub").mkdir()
    (folder / "sub" / "inside.txt").write_text("a folder given as a file\n")
    return {**paths, "root": folder, "folder": folder / "sub", "missing": folder / "missing.nii.gz",
            "points": folder / "points.json", "not_json": folder / "not_json.nii.gz",
            "truncated": folder / "truncated.nii.gz"}


def run_in_process(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def check_run(argv: list[str], outputs: set[str], folder: Path, run=run_in_process) -> None:
    """Run ``argv``: exit 0 or 2, no traceback, and nothing under ``folder`` changed but the
    files of ``outputs`` (with their sidecars) that the command does not also read."""
    before = checksums(folder)
    code, _, err = run(argv)
    event(f"{argv[0]}: exit {code}")  # the spread shows with --hypothesis-show-statistics
    assert code in (0, 2), f"exit {code} for {argv}: {err}"
    assert "Traceback" not in err, f"{argv}: {err}"
    after = checksums(folder)
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    read = {item.split("=", 1)[-1] for item in argv} - outputs
    stems = [strip_image_suffix(Path(path).resolve()) for path in outputs - read]
    replaceable = {name for name in changed if any(str(folder / name).startswith(f"{stem}.") for stem in stems)}
    assert changed <= replaceable, f"an input changed: {sorted(changed - replaceable)} by {argv}"


def fill_in(template: list[str], inputs: dict[str, Path], out: Path) -> tuple[list[str], set[str]]:
    """The arguments of ``template`` with real paths, and which of them are outputs."""
    names = {key: str(value) for key, value in inputs.items()}
    argv, outputs = [], set()
    for item in template:
        item = item.format(**names, out=out)
        if OUTPUT_MARK in item:
            item = item.replace(OUTPUT_MARK, "")
            outputs.add(item.split("=", 1)[-1])
        argv.append(item)
    return argv, outputs


@settings(max_examples=300, **FUZZ_SETTINGS)
@given(template=COMMANDS)
def test_any_arguments_end_in_exit_0_or_2_and_leave_inputs_alone(inputs, tmp_path_factory, template):
    out = tmp_path_factory.mktemp("out")
    check_run(*fill_in(template, inputs, out), inputs["root"])


@settings(max_examples=6, **FUZZ_SETTINGS)
@given(template=COMMANDS)
def test_real_processes_end_in_exit_0_or_2(inputs, tmp_path_factory, template):
    out = tmp_path_factory.mktemp("out")

    def run_process(argv):
        result = subprocess.run([sys.executable, "-m", "segviewer", *argv], capture_output=True, text=True,
                                timeout=120, env=SUBPROCESS_ENV)
        return result.returncode, result.stdout, result.stderr

    check_run(*fill_in(template, inputs, out), inputs["root"], run_process)


# -- crafted headers ----------------------------------------------------------------------------
#: NIfTI-1 datatype codes and their bytes per voxel: the usual ones, then odd ones (complex,
#: RGB, 128-bit) and unknown codes.
NIFTI_DATATYPES = {2: 1, 4: 2, 8: 4, 16: 4, 64: 8, 256: 1, 512: 2, 768: 4, 1024: 8, 1280: 8,
                   32: 8, 128: 3, 1792: 16, 2304: 4, 0: 1, 9999: 1}
USUAL_NIFTI_DATATYPES = [2, 4, 8, 16, 64, 256, 512, 768]
DIMENSIONS = mostly(st.integers(1, 9), st.sampled_from([0, -1, -5, 300, 2 ** 15 - 1]))  # NIfTI-1: int16
TEXT_DIMENSIONS = mostly(st.integers(1, 9), st.sampled_from([-1, 0, 300, 70000, 10 ** 9]))
SPACINGS = mostly(st.sampled_from([1.0, 0.5, 2.0, 0.7]),
                  st.sampled_from([0.0, -1.0, 1e-30, 1e30, float("nan"), float("inf")]))
#: How many data bytes follow the header: None = exactly as many as it declares.
DATA_LENGTHS = mostly(st.none(), st.sampled_from([0, 1, 100, 4000]))


def declared_bytes(sizes, bytes_per_voxel: int) -> int:
    return int(np.prod([max(size, 0) for size in sizes], dtype=np.int64)) * bytes_per_voxel


def data_of(length: int) -> bytes:
    return (bytes(range(256)) * (length // 256 + 1))[:length]


def nifti_bytes(ndim, dims, pixdims, datatype, vox_offset, data_length, slope) -> bytes:
    """A NIfTI-1 single file (``n+1``): a 348-byte header, 4 extension bytes, then data."""
    size = NIFTI_DATATYPES[datatype]
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, ndim, *dims)
    struct.pack_into("<2h", header, 70, datatype, 8 * size)
    struct.pack_into("<8f", header, 76, 1.0, *pixdims)
    struct.pack_into("<f", header, 108, vox_offset)
    struct.pack_into("<2f", header, 112, slope, 0.0)
    struct.pack_into("<h", header, 254, 1)  # sform_code: scanner
    struct.pack_into("<12f", header, 280, pixdims[0], 0, 0, 0, 0, pixdims[1], 0, 0, 0, 0, pixdims[2], 0)
    header[344:348] = b"n+1\0"
    if data_length is None:
        data_length = declared_bytes(dims[:max(ndim, 0)], size) if 0 < ndim <= 7 else 0
    return bytes(header) + b"\0" * 4 + data_of(min(data_length, 10 ** 6))


NIFTI_FILES = st.builds(
    nifti_bytes, ndim=mostly(st.sampled_from([3, 2, 4]), st.sampled_from([0, 1, 5, 8, -1])),
    dims=st.lists(DIMENSIONS, min_size=7, max_size=7), pixdims=st.lists(SPACINGS, min_size=7, max_size=7),
    datatype=mostly(st.sampled_from(USUAL_NIFTI_DATATYPES), st.sampled_from(list(NIFTI_DATATYPES))),
    vox_offset=mostly(st.just(352.0), st.sampled_from([0.0, 348.0, 353.0, 1e9, -352.0, float("nan")])),
    data_length=DATA_LENGTHS, slope=mostly(st.sampled_from([0.0, 1.0, 2.0]), st.sampled_from([float("nan"),
                                                                                              float("inf")])),
).flatmap(lambda data: st.sampled_from([(".nii", data), (".nii.gz", gzip.compress(data, mtime=0))]))

#: Voxel types of NRRD and MetaImage with their bytes per voxel; the last ones are not scalars
#: segviewer reads, or not types at all.
NRRD_TYPES = {"uchar": 1, "char": 1, "short": 2, "ushort": 2, "int": 4, "uint": 4, "float": 4, "double": 8,
              "long long": 8, "block": 1, "junk": 1}
META_TYPES = {"MET_UCHAR": 1, "MET_CHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_FLOAT": 4,
              "MET_DOUBLE": 8, "MET_ULONG_LONG": 8, "MET_STRING": 1, "JUNK": 1}


def text_header_file(kind, type_index, sizes, spacings, data_length, lines_dropped) -> tuple[str, bytes]:
    """An NRRD or MetaImage (``.mha``) header with its data inline, possibly missing lines."""
    size_text = " ".join(map(str, sizes))
    spacing_text = " ".join(map(repr, spacings))
    types = NRRD_TYPES if kind == "nrrd" else META_TYPES
    type_name = list(types)[type_index % len(types)]
    if kind == "nrrd":
        lines = ["NRRD0004", f"type: {type_name}", f"dimension: {len(sizes)}", f"sizes: {size_text}",
                 f"spacings: {spacing_text}", "encoding: raw", "endian: little"]
        keep, end = lines[:1] + [line for n, line in enumerate(lines[1:]) if n not in lines_dropped], "\n\n"
    else:
        lines = ["ObjectType = Image", f"NDims = {len(sizes)}", f"DimSize = {size_text}",
                 f"ElementType = {type_name}", f"ElementSpacing = {spacing_text}", "BinaryData = True",
                 "ElementDataFile = LOCAL"]
        keep, end = [line for n, line in enumerate(lines[:-1]) if n not in lines_dropped] + lines[-1:], "\n"
    if data_length is None:
        data_length = declared_bytes(sizes, types[type_name])
    return ("." + kind if kind == "nrrd" else ".mha"), ("\n".join(keep) + end).encode() + data_of(
        min(data_length, 10 ** 6))


TEXT_FILES = st.builds(
    text_header_file, kind=st.sampled_from(["nrrd", "mha"]),
    type_index=mostly(st.integers(0, 7), st.integers(0, 20)),
    sizes=st.lists(TEXT_DIMENSIONS, min_size=1, max_size=4).flatmap(
        lambda sizes: mostly(st.just(sizes[:3] + [1, 1, 1][len(sizes):]), st.just(sizes))),
    spacings=st.lists(SPACINGS, min_size=1, max_size=4), data_length=DATA_LENGTHS,
    lines_dropped=mostly(st.just(set()), st.sets(st.integers(0, 6), min_size=1, max_size=2)))

#: Commands that read a crafted file ({crafted}) as an image, a label map or scribbles.
CRAFTED_COMMANDS = st.sampled_from([
    ["info", "{crafted}", "--json"],
    ["convert", "{crafted}", "{out}/c.nrrd"],
    ["convert", "{crafted}", "{out}/c.nii.gz", "--labels"],
    ["stats", "{crafted}", "{crafted}"],
    ["segment", "{crafted}", "--method", "threshold", "-o", "{out}/t.nii.gz", "-q"],
    ["segment", "{image}", "--method", "graphcut", "--scribbles", "{crafted}", "-o", "{out}/g.nii.gz", "-q"],
    ["evaluate", "{crafted}", "{labels}", "--json"],
])


@settings(max_examples=300, **FUZZ_SETTINGS)
@given(crafted=st.one_of(NIFTI_FILES, TEXT_FILES), cut=mostly(st.none(), st.sampled_from([10, 100, 347, 400])),
       template=CRAFTED_COMMANDS)
def test_crafted_headers_end_in_exit_0_or_2(inputs, tmp_path_factory, crafted, cut, template):
    """Random dims, voxel sizes, voxel types and data lengths in NIfTI, NRRD and MHA
    headers, whole or truncated."""
    suffix, data = crafted
    folder = Path(tempfile.mkdtemp(dir=inputs["root"], prefix="crafted"))
    path = folder / f"crafted{suffix}"
    path.write_bytes(data if cut is None else data[:cut])
    out = tmp_path_factory.mktemp("out")
    names = {**inputs, "crafted": path}
    check_run(*fill_in(template, names, out), inputs["root"])
