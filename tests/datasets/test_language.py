"""The language model loads from an unpacked copy in the cache folder, and answers as
py3langid's own loader does."""

import numpy as np
import py3langid
import pytest

from apps.datasets import language

TEXTS = [
    "Hello, how are you doing today, my friend? I hope the weather is fine.",
    "Bonjour, comment allez-vous aujourd'hui ? Il fait beau à Paris.",
    "Wie geht es dir heute, mein Freund? Das Wetter ist schön.",
    "¿Cómo estás hoy, amigo mío? Hace buen tiempo en Madrid.",
    "今日はいい天気ですね、散歩に行きましょう。",
    "Привет, как дела у тебя сегодня? Погода хорошая.",
]


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("VIBEFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(language, "_identifier", None)
    return tmp_path


def test_the_unpacked_copy_answers_as_py3langid(fresh):
    first = language.identifier()
    folder = language.cache_folder()
    assert folder.is_relative_to(fresh) and (folder / "nextmove.npy").is_file()
    expected = [py3langid.classify(text) for text in TEXTS]
    assert [first.classify(text) for text in TEXTS] == expected

    language._identifier = None  # a new process: loads from the copy
    assert [language.identifier().classify(text) for text in TEXTS] == expected


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: np.save(folder / "ptc.npy", np.zeros(3)),  # the wrong shape
        lambda folder: (folder / "nextmove.npy").write_bytes(b"not an array"),
        lambda folder: (folder / "classes.npy").unlink(),
    ],
)
def test_a_damaged_copy_falls_back_to_py3langid(fresh, damage):
    language.identifier()
    damage(language.cache_folder())
    language._identifier = None
    languages = [language.identifier().classify(text)[0] for text in TEXTS]
    assert languages == ["en", "fr", "de", "es", "ja", "ru"]
