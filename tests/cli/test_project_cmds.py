"""`flowdrafter --version`, `new`, `check`, `schema`, `examples`: what a person types and what they see.

Most cases call `ui.cli.main` in-process (fast); a few run the installed `flowdrafter` console script in a
subprocess to prove the real entry point behaves the same: one line per problem, exit 2, never a traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowdrafter.core import __version__
from flowdrafter.core.examples import DEFAULT_EXAMPLE, list_examples
from flowdrafter.ui.cli import main

SCRIPT = Path(sys.executable).parent / "flowdrafter"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_script(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = str(SCRIPT) if SCRIPT.exists() else shutil.which("flowdrafter")
    assert exe, "the flowdrafter console script is not installed (pip install -e .)"
    return subprocess.run([exe, *map(str, argv)], capture_output=True, text=True, timeout=120, cwd=cwd)


def write_project(root: Path, doc: dict | str | bytes) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "assets").mkdir(exist_ok=True)
    path = root / "storyboard.json"
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    else:
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
    return root


# -- the real console script ---------------------------------------------------------------------------


def test_version_from_the_console_script():
    proc = run_script("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"flowdrafter {__version__}\n", "")


def test_new_then_check_with_the_console_script(tmp_path):
    proc = run_script("new", tmp_path / "mine")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"created {tmp_path / 'mine'} from example '{DEFAULT_EXAMPLE}'\n"
    proc = run_script("check", tmp_path / "mine")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: '") and " fps (" in proc.stdout


def test_bad_project_with_the_console_script_lists_problems_without_traceback(tmp_path, sample_doc):
    sample_doc["scenes"][0]["tracks"][0]["keyframes"][1]["box"] = [0.7, 0.1, 0.4, 0.5]
    sample_doc["scenes"][1]["background"] = "moon"
    write_project(tmp_path / "bad", sample_doc)
    proc = run_script("check", "bad", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "bad: scene s1, track kitten, frame 15: box: x0 0.7 must be less than x1 0.4",
        "bad: scene s2: background 'moon' is not an entity",
        "2 problems found",
    ]


def test_not_a_project_with_the_console_script(tmp_path):
    proc = run_script("check", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == f"flowdrafter: error: {tmp_path} is not a FlowDrafter project (no storyboard.json)\n"
    assert "Traceback" not in proc.stderr


def test_schema_from_the_console_script_is_json_schema(sample_doc):
    proc = run_script("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Storyboard" and "scenes" in schema["required"]
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(sample_doc)
    sample_doc["scenes"][0]["camera"]["motion"] = "spin"
    assert not jsonschema.Draft202012Validator(schema).is_valid(sample_doc)


# -- new -----------------------------------------------------------------------------------------------


def test_examples_are_listed(capsys):
    code, out, _ = run(capsys, "examples")
    assert code == 0 and out.split() == list_examples() and DEFAULT_EXAMPLE in out.split()


@pytest.mark.parametrize("example", list_examples())
def test_new_from_every_example_checks_clean(capsys, tmp_path, example):
    code, out, err = run(capsys, "new", tmp_path / example, "--example", example)
    assert (code, err) == (0, "")
    root = tmp_path / example
    assert (root / "storyboard.json").is_file() and (root / "renders").is_dir() and (root / "exports").is_dir()
    assert not list(root.glob("*.py"))
    code, out, err = run(capsys, "check", root)
    assert (code, err) == (0, "")
    assert out.startswith("ok: ")


@pytest.mark.parametrize("example", list_examples())
def test_check_accepts_the_shipped_examples_in_place(capsys, example):
    from flowdrafter.core.examples import example_path

    code, out, err = run(capsys, "check", example_path(example))
    assert (code, err) == (0, ""), err


def test_new_refuses_unknown_example_busy_folder_and_file(capsys, tmp_path):
    code, _, err = run(capsys, "new", tmp_path / "x", "--example", "nope")
    assert code == 2
    assert err.startswith("flowdrafter: error: no example named 'nope'; examples: ")
    assert len(err.splitlines()) == 1 and not (tmp_path / "x").exists()
    code, _, err = run(capsys, "new", tmp_path / "x", "--example", f"../examples/{DEFAULT_EXAMPLE}")
    assert code == 2 and err.startswith(f"flowdrafter: error: no example named '../examples/{DEFAULT_EXAMPLE}'")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    code, _, err = run(capsys, "new", busy)
    assert (code, err) == (2, f"flowdrafter: error: {busy} is not empty; choose a new folder\n")
    assert sorted(p.name for p in busy.iterdir()) == ["mine.txt"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, err = run(capsys, "new", afile)
    assert (code, err) == (2, f"flowdrafter: error: {afile} exists and is not a folder; choose a new folder\n")


def test_new_into_an_existing_empty_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "new", tmp_path / "empty")
    assert (code, err) == (0, "")


# -- check: every bad input of issue 2 -----------------------------------------------------------------


def kf(doc, key=1):
    return doc["scenes"][0]["tracks"][0]["keyframes"][key]


BAD_DOCUMENTS = [
    ("wrong type", lambda d: d.update(fps="fast"), ['fps: must be a whole number, got "fast"']),
    ("missing schema_version", lambda d: d.pop("schema_version"),
     ["schema_version is missing (this file is not a FlowDrafter storyboard?)"]),
    ("newer schema_version", lambda d: d.update(schema_version=7),
     ["schema_version 7 is newer than this FlowDrafter understands (1); upgrade FlowDrafter to open it"]),
    ("unknown schema_version", lambda d: d.update(schema_version=-3), ["schema_version -3 is unknown"]),
    ("box out of range", lambda d: kf(d).update(box=[0.1, 0.1, 1.3, 0.5]),
     ["scene s1, track kitten, frame 15: box: x1 1.3 must be between 0 and 1"]),
    ("box inverted", lambda d: kf(d).update(box=[0.7, 0.1, 0.4, 0.5]),
     ["scene s1, track kitten, frame 15: box: x0 0.7 must be less than x1 0.4"]),
    ("keyframe outside", lambda d: kf(d).update(frame=30),
     ["scene s1, track kitten, frame 30: keyframe is outside the scene (frames 0-15)"]),
    ("keyframes unsorted", lambda d: d["scenes"][0]["tracks"][0]["keyframes"].reverse(),
     ["scene s1, track kitten: keyframes: keyframe frames must be strictly increasing, got 15 then 0"]),
    ("unknown entity", lambda d: d["scenes"][0]["tracks"][1].update(entity="dog"),
     ["scene s1, track dog: unknown entity 'dog'"]),
    ("duplicate ids", lambda d: (d["scenes"][1].update(id="s1"), d["entities"].append(dict(d["entities"][1]))),
     ["entity ball: duplicate entity id", "scene s1: duplicate scene id"]),
    ("no scenes", lambda d: d.update(scenes=[]), ["scenes: a storyboard needs at least one scene"]),
    ("escaping asset path", lambda d: d["entities"][0].update(reference={"image": "../../etc/passwd"}),
     ["entity kitten: reference.image: asset path '../../etc/passwd' must not contain '..'"]),
    ("absolute asset path", lambda d: d["entities"][0].update(reference={"image": "/etc/passwd"}),
     ["entity kitten: reference.image: asset path '/etc/passwd' must be relative to the project folder"]),
    ("missing reference image", lambda d: d["entities"][0].update(reference={"image": "assets/kitten.png"}),
     ["entity kitten: reference.image: assets/kitten.png does not exist"]),
]


@pytest.mark.parametrize("mutate, expected", [c[1:] for c in BAD_DOCUMENTS], ids=[c[0] for c in BAD_DOCUMENTS])
def test_check_rejects_bad_documents_one_line_per_problem(capsys, tmp_path, sample_doc, mutate, expected):
    mutate(sample_doc)
    root = write_project(tmp_path / "p", sample_doc)
    before = (root / "storyboard.json").read_bytes()
    code, out, err = run(capsys, "check", root)
    assert code == 2 and out == ""
    count = f"{len(expected)} problem{'s' if len(expected) > 1 else ''} found"
    assert err.splitlines() == [f"{root}: {line}" for line in expected] + [count]
    assert (root / "storyboard.json").read_bytes() == before  # check never writes


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"schema_version": 1, "scenes": [}', "malformed JSON at line 1 column 34: Expecting value"),
        ("", "the file is empty"),
        ("{}", "the storyboard is empty"),
        ("[]", "a storyboard is a JSON object, got list"),
        (b"\xff\xfe{}", "not UTF-8 text (byte 0)"),
    ],
)
def test_check_rejects_unreadable_files(capsys, tmp_path, content, expected):
    root = write_project(tmp_path / "p", content)
    code, _, err = run(capsys, "check", root)
    assert code == 2
    assert err.splitlines() == [f"{root}: {expected}", "1 problem found"]


def test_check_lists_every_problem_including_reference_files(capsys, tmp_path, sample_doc):
    sample_doc["fps"] = 0
    sample_doc["entities"][1]["reference"] = {"image": "assets/ball.png"}  # valid path, missing file
    sample_doc["scenes"][1]["tracks"][0]["entity"] = "garden"
    root = write_project(tmp_path / "p", sample_doc)
    code, _, err = run(capsys, "check", root)
    assert code == 2
    assert err.splitlines() == [
        f"{root}: fps: must be at least 1, got 0",
        f"{root}: scene s2, track garden: 'garden' is a background entity; only foreground entities have boxes",
        f"{root}: entity ball: reference.image: assets/ball.png does not exist",
        "3 problems found",
    ]


def test_check_opens_the_reference_images(capsys, tmp_path, sample_doc):
    sample_doc["entities"][0]["reference"] = {"image": "assets/kitten.png"}
    sample_doc["entities"][1]["reference"] = {"image": "assets/ball.png"}
    root = write_project(tmp_path / "p", sample_doc)
    (root / "assets" / "kitten.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    from PIL import Image

    Image.new("RGB", (8, 8)).save(root / "assets" / "ball.png")
    code, _, err = run(capsys, "check", root)
    assert code == 2
    assert err.splitlines() == [
        f"{root}: entity kitten: reference.image: assets/kitten.png is not an image (PNG, JPEG or WebP expected)",
        "1 problem found",
    ]


def test_an_imported_image_can_be_referenced_saved_and_checked(project):
    import io

    from PIL import Image

    from flowdrafter.core.edits import set_reference
    from flowdrafter.core.images import import_image
    from flowdrafter.core.storyboard import Reference
    from flowdrafter.ui.cli.project_cmds import check_project

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, format="JPEG")
    rel = import_image(project, buf.getvalue(), name="kitten.jpg")
    project.save(set_reference(project.load(), "kitten", Reference(image=rel, source="upload")))
    assert project.load().entity("kitten").reference.image == rel
    assert check_project(project.root) == []
    (project.root / rel).write_bytes(b"scribbled over")
    assert check_project(project.root) == [
        f"entity kitten: reference.image: {rel} is not an image (PNG, JPEG or WebP expected)"
    ]


def test_check_refuses_a_reference_symlinked_out_of_the_project(capsys, tmp_path, sample_doc):
    (tmp_path / "outside.png").write_bytes(b"x")
    sample_doc["entities"][0]["reference"] = {"image": "assets/kitten.png"}
    root = write_project(tmp_path / "p", sample_doc)
    (root / "assets" / "kitten.png").symlink_to(tmp_path / "outside.png")
    code, _, err = run(capsys, "check", root)
    assert code == 2
    assert err.splitlines()[0] == (
        f"{root}: entity kitten: reference.image: asset path 'assets/kitten.png' leaves the project folder (through a symlink?)"
    )


def test_check_accepts_an_older_version_without_rewriting_it(capsys, tmp_path):
    v0 = Path(__file__).resolve().parents[1] / "core" / "data" / "storyboard_v0.json"
    root = write_project(tmp_path / "old", v0.read_text())
    code, out, err = run(capsys, "check", root)
    assert (code, err) == (0, "")
    assert out == "ok: 'A draft from before 0.1', 2 scenes, 2 entities, 20 frames at 12 fps (00:01:08)\n"
    assert (root / "storyboard.json").read_text() == v0.read_text()


@pytest.mark.parametrize("kind", ["missing", "file", "empty folder"])
def test_check_on_something_that_is_not_a_project(capsys, tmp_path, kind):
    target = tmp_path / "target"
    if kind == "file":
        target.write_text("hello")
    elif kind == "empty folder":
        target.mkdir()
    code, out, err = run(capsys, "check", target)
    expected = {
        "missing": f"{target} does not exist",
        "file": f"{target} is not a folder",
        "empty folder": f"{target} is not a FlowDrafter project (no storyboard.json)",
    }[kind]
    assert (code, out, err) == (2, "", f"flowdrafter: error: {expected}\n")


def test_argument_mistakes_are_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == "flowdrafter check: error: the following arguments are required: dir\n"
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2 and len(capsys.readouterr().err.splitlines()) == 1
