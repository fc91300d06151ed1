"""Files a reply carries are cut to what Discord accepts, with a note for each left out."""

from __future__ import annotations

from clara.adapters.chat import fit_files


def test_names_lose_their_folders() -> None:
    kept, notes = fit_files([("../../etc/passwd", b"x"), ("C:\\tmp\\a.csv", b"y"), ("/", b"z")])
    assert [name for name, _ in kept] == ["passwd", "a.csv", "file"]
    assert notes == []


def test_too_many_and_too_large_are_left_out_with_a_note() -> None:
    files = [(f"f{n}.txt", b"x") for n in range(12)]
    kept, notes = fit_files(files, max_files=10)
    assert len(kept) == 10
    assert notes == [
        "f10.txt was not attached: at most 10 files go with a reply",
        "f11.txt was not attached: at most 10 files go with a reply",
    ]
    kept, notes = fit_files(
        [("a.bin", b"1" * 600), ("b.bin", b"2" * 600), ("c.bin", b"3")], max_bytes=1000
    )
    assert [name for name, _ in kept] == ["a.bin", "c.bin"]
    assert notes and notes[0].startswith("b.bin was not attached")
