"""Images with captions (StackGAN's text-to-image task), as host arrays, and their vocabulary.

The layout of INTERFACES.md: ``npz:PATH`` with ``x`` uint8 images (N, H, W[, C]) and ``text``
an array of N strings, one caption per image; a ``--test-dataset`` may hold ``text`` alone
(one image is generated per caption). ``folder:PATH``: image files, each with its caption in a
text file of the same name (``PATH/0001.png`` + ``PATH/0001.txt``, as CUB's ``text/`` folder
holds one caption file per bird image). Built-in (offline): ``digit-captions``.

    digit-captions   synthetic digits (tinygen/data/digits.py) in one of 3 colours and 2 stroke
                     widths, RGB 32 x 32, captioned "<colour> <width> <digit name>", e.g.
                     "red thick seven": :func:`caption_digits` (the same images as StarGAN's
                     digit-styles: tinygen.data.unpaired.style_domains, the thick ones by a
                     3 x 3 grey dilation)

:func:`caption_digits` makes the task from any grey digits (benchmarks/stackgan_quality.py
makes it from the real MNIST digits).

A caption is read as a bag of words: lower-cased, split on white space (:func:`words`).
:class:`Vocabulary` maps the training captions' words to indices and a caption to its
normalised bag of words (the word counts over the caption length), the text encoder's input;
an unknown word is a ValueError naming it and the known ones.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional, Sequence, Tuple

import numpy as np

from tinygen.data.byo import _images_in
from tinygen.data.unpaired import (COLOURS, WIDTHS, _read_folder, _read_npz, check_image_array,
                                   style_domains)
from tinygen.io.files import atomic_write_bytes

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CAPTION_NAMES = ("digit-captions", "npz:PATH", "folder:PATH")
TEST_SEED = 1_000_003          # the built-in test split is drawn from another seed


@dataclasses.dataclass
class CaptionSet:
    """Captions ``text`` (N,) str with their images ``x`` uint8 (N, H, W[, C]), or None for a
    test set of captions alone. ``digit`` / ``colour`` / ``width``: what each caption says, as
    indices (DIGIT_NAMES, COLOURS, WIDTHS), where the set knows it (built-in and benchmark
    sets; None for user data), for scoring only."""
    text: np.ndarray
    x: Optional[np.ndarray] = None
    name: str = ""
    digit: Optional[np.ndarray] = None
    colour: Optional[np.ndarray] = None
    width: Optional[np.ndarray] = None


# ----------------------------------------------------------------------------- words

def words(caption: str) -> Tuple[str, ...]:
    """A caption's words: lower-cased, split on white space ("Red  thick seven" -> 3 words)."""
    return tuple(str(caption).lower().split())


class Vocabulary:
    """The words of the training captions, sorted: word <-> index 0..V-1.

    ``bag_of_words(captions)`` -> float32 (N, V): entry (i, v) = (count of word v in caption i)
    / (words in caption i), so that ``bow @ E`` is the mean of the caption's word embeddings
    (rows of E (V, e)). Saved with a run as ``vocabulary.json`` (the words, and the distinct
    training captions that ``tinygen sample`` draws from)."""

    def __init__(self, words_: Sequence[str], captions: Sequence[str] = (), extra=None):
        self.words = tuple(words_)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.captions = tuple(captions)
        self.extra = dict(extra or {})       # what a method saved beside the words

    @classmethod
    def from_captions(cls, captions) -> "Vocabulary":
        found = sorted({w for c in captions for w in words(c)})
        return cls(found, sorted({" ".join(words(c)) for c in captions}))

    def __len__(self) -> int:
        return len(self.words)

    def bag_of_words(self, captions, where: str = "caption") -> np.ndarray:
        """Captions (N,) -> float32 (N, V), each row summing to 1 (module docstring)."""
        bow = np.zeros((len(captions), len(self.words)), np.float32)
        for i, caption in enumerate(captions):
            ws = words(caption)
            if not ws:
                raise ValueError(f"{where} {i} is empty; every caption needs at least one of "
                                 f"the words {', '.join(self.words)}")
            for w in ws:
                if w not in self.index:
                    raise ValueError(f"{where} {i} {str(caption)!r}: the word {w!r} is not in "
                                     f"the run's vocabulary; known words: "
                                     f"{', '.join(self.words)}")
                bow[i, self.index[w]] += 1.0 / len(ws)
        return bow

    def save(self, path: str, **extra) -> None:
        """The words, the captions and ``extra`` (JSON values) -> ``path``, atomically."""
        blob = json.dumps({"words": list(self.words), "captions": list(self.captions),
                           **extra}, indent=1)
        atomic_write_bytes(path, blob.encode())

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no vocabulary at {path!r}: a stackgan run folder holds "
                                    "vocabulary.json (written when the run starts)")
        with open(path) as f:
            saved = json.load(f)
        extra = {k: v for k, v in saved.items() if k not in ("words", "captions")}
        return cls(saved["words"], saved.get("captions", ()), extra)


# ----------------------------------------------------------------------------- the task

def caption_digits(images, labels, seed: int = 0, size: int = 32) -> CaptionSet:
    """Captioned coloured digits from grey digits (N, H, W) uint8 and their labels (N,): each
    image gets a random colour and stroke width (:func:`tinygen.data.unpaired.style_domains`,
    drawn with ``seed``) and the caption "<colour> <width> <digit name>"; RGB (N, size, size, 3)."""
    labels = np.asarray(labels, np.int64)
    styled = style_domains(images, labels, seed=seed, size=size)
    colour, width = styled.y // len(WIDTHS), styled.y % len(WIDTHS)
    names = list(COLOURS)
    text = np.array([f"{names[c]} {WIDTHS[w]} {DIGIT_NAMES[d]}"
                     for c, w, d in zip(colour, width, labels)])
    return CaptionSet(text=text, x=styled.x, name="digit-captions", digit=labels,
                      colour=colour, width=width)


def parse_caption(caption: str) -> Tuple[int, int, int]:
    """(colour, width, digit) indices of a "<colour> <width> <digit>" caption (-1 for a part
    the caption does not name): how the benchmark reads what a held-out caption asks for."""
    ws = words(caption)
    colour = next((i for i, c in enumerate(COLOURS) if c in ws), -1)
    width = next((i for i, w in enumerate(WIDTHS) if w in ws), -1)
    digit = next((i for i, d in enumerate(DIGIT_NAMES) if d in ws), -1)
    return colour, width, digit


# ----------------------------------------------------------------------------- loaders

def _check_text(text, n_images: Optional[int], spec: str) -> np.ndarray:
    text = np.asarray(text)
    if text.ndim != 1 or not (text.dtype.kind in "US"):
        raise ValueError(f"{spec}: text must be a 1-D array of strings, one caption per image "
                         f"(numpy.savez(path, x=images, text=np.array(['red thick seven', ...])));"
                         f" got {text.dtype} {text.shape}")
    if n_images is not None and len(text) != n_images:
        raise ValueError(f"{spec}: {len(text)} captions for {n_images} images; text needs one "
                         "caption per image, in the images' order")
    if len(text) == 0:
        raise ValueError(f"{spec}: holds no captions")
    text = text.astype(str)
    empty = [i for i, t in enumerate(text) if not words(t)]
    if empty:
        raise ValueError(f"{spec}: caption {empty[0]} is empty; give every image a caption")
    return text


def _read_caption_folder(folder: str, spec: str) -> CaptionSet:
    x = _read_folder(folder, spec, "image files, each with its caption in a .txt file of the "
                                   "same name")
    text = []
    for f in _images_in(folder):                         # the order _read_folder reads them
        txt = os.path.splitext(f)[0] + ".txt"
        if not os.path.isfile(txt):
            raise ValueError(f"{spec}: {os.path.basename(f)} has no caption file "
                             f"{os.path.basename(txt)} beside it (one .txt per image)")
        with open(txt, encoding="utf-8") as t:
            text.append(" ".join(t.read().split()))
    return CaptionSet(text=_check_text(text, len(x), spec), x=x, name=spec)


def _digits(n: int, seed: int):
    from tinygen.data.digits import synthetic_digits
    ds = synthetic_digits(n=n, seed=seed)
    return ds.x, ds.y


def load_captions(spec: str, split: str = "train", seed: int = 0, n: int = 0) -> CaptionSet:
    """The captioned set ``spec`` names (module docstring); ``n`` > 0: the first n.

    Built-in ``digit-captions``: 3,000 synthetic digits, the test split 300 from another seed.
    A training set needs images; a test set's ``x`` is optional (captions alone)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if spec == "digit-captions":
        s = seed + (TEST_SEED if split == "test" else 0)
        x, digit = _digits(n or (3000 if split == "train" else 300), s)
        data = caption_digits(x, digit, seed=s)
    elif spec.startswith("npz:"):
        arrays = _read_npz(spec[4:], ("x", "text") if split == "train" else ("text",), spec)
        x = arrays.get("x")
        x = None if x is None else check_image_array(x, f"{spec} array x")
        data = CaptionSet(text=_check_text(arrays["text"], None if x is None else len(x), spec),
                          x=x, name=spec)
    elif spec.startswith("folder:"):
        data = _read_caption_folder(spec[len("folder:"):], spec)
    else:
        raise ValueError(f"unknown caption dataset {spec!r}; use one of "
                         f"{', '.join(CAPTION_NAMES)} (npz: arrays x and text, one caption "
                         "string per image; folder: images with same-named .txt captions)")
    if n:
        for key in ("text", "x", "digit", "colour", "width"):
            value = getattr(data, key)
            if value is not None:
                setattr(data, key, value[:n])
    return data


__all__ = ["CaptionSet", "Vocabulary", "DIGIT_NAMES", "CAPTION_NAMES", "words",
           "caption_digits", "parse_caption", "load_captions"]
