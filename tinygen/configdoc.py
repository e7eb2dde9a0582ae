"""Help text for config dataclasses, read from the comments beside their fields.

A method's ``Config`` documents every field with a trailing comment::

    batch_size: int = 100          # m (the paper's code, pylearn2 adversarial/mnist.yaml)
    lr_decay: bool = False         # decay the lrs linearly to 0 over the run (not in the papers;
                                   # the 2-D demo uses it to sharpen the modes at the end)

The text of the comment (and of the comment-only lines indented under it) is the field's
``--help`` text, so the code and its help cannot drift apart. The source is read with
:mod:`tokenize`, so a ``#`` inside a string default is not taken for a comment.

* :func:`declared_comments` -- ``{field: text}`` for the fields one class itself declares;
* :func:`field_docs` -- ``{field: (text, declaring class)}`` for every dataclass field,
  inherited ones included: the text of the most-derived class that declares the field with a
  comment (a subclass that overrides only the default keeps its base's text);
* :func:`missing_field_docs` -- the fields whose most-derived declaration has no comment (the
  override's default would be unexplained); ``tinygen_tests/test_49_cli.py`` keeps this empty.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import io
import textwrap
import tokenize
from typing import Dict, List, Optional, Tuple


@functools.lru_cache(maxsize=None)
def declared_comments(cls: type) -> Dict[str, str]:
    """``{name: comment text}`` for the commented annotated fields in ``cls``'s own body.

    A field's text is its trailing comment(s) plus every following line that holds only a
    comment indented deeper than the field (a continuation). A comment at the body's own
    indentation starts a new paragraph and belongs to no field. Empty if the source is
    unavailable (a class built at run time, a frozen application).
    """
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return {}

    comments: Dict[str, List[str]] = {}
    depth = 0           # INDENT depth; the class body is depth 1
    in_class = False
    line: List[tokenize.TokenInfo] = []   # tokens of the current logical line
    current: Optional[str] = None         # field that continuation comments attach to
    field_col = 0

    for tok in tokens:
        kind = tok.type
        if kind == tokenize.INDENT:
            depth += 1
            continue
        if kind == tokenize.DEDENT:
            depth -= 1
            current = None
            continue
        if not in_class:
            if kind == tokenize.NAME and tok.string == "class":
                in_class = True
            continue
        if kind == tokenize.COMMENT and not line:
            # a comment-only line: a continuation of the field above if indented deeper
            if current is not None and depth == 1 and tok.start[1] > field_col:
                comments[current].append(_comment_text(tok.string))
            else:
                current = None
            continue
        if kind == tokenize.NL and not line:
            if tok.line.strip() == "":          # a blank line ends a continuation
                current = None
            continue
        if kind in (tokenize.NEWLINE, tokenize.ENDMARKER):
            name = _field_name(line) if depth == 1 else None
            if name is not None:
                texts = [_comment_text(t.string) for t in line if t.type == tokenize.COMMENT]
                comments[name] = texts
                current, field_col = name, line[0].start[1]
            else:
                current = None
            line = []
            continue
        line.append(tok)
    texts = {name: _join(parts) for name, parts in comments.items()}
    return {name: text for name, text in texts.items() if text}


def _field_name(line) -> Optional[str]:
    """The name of an annotated assignment ``name: type [= default]``, else None."""
    code = [t for t in line if t.type not in (tokenize.COMMENT, tokenize.NL)]
    if len(code) >= 2 and code[0].type == tokenize.NAME and code[1].string == ":" \
            and code[0].string not in ("class", "def", "if", "else", "elif", "for", "while",
                                       "try", "except", "finally", "with", "lambda"):
        return code[0].string
    return None


def _comment_text(comment: str) -> str:
    return comment.lstrip("#").strip()


def _join(parts: List[str]) -> str:
    """Comment lines -> one paragraph (a line ending in '-' after a letter joins unspaced)."""
    text = ""
    for part in (p for p in parts if p):
        if not text:
            text = part
        elif text.endswith("-") and len(text) > 1 and text[-2].isalpha():
            text += part
        else:
            text += " " + part
    return text


def _declaring_classes(cls: type, name: str) -> List[type]:
    """The classes of ``cls``'s MRO that declare field ``name`` themselves, most-derived first."""
    return [c for c in cls.__mro__ if name in c.__dict__.get("__annotations__", {})]


@functools.lru_cache(maxsize=None)
def field_docs(cls: type) -> Dict[str, Tuple[str, Optional[type]]]:
    """``{field: (help text, class the text comes from)}`` for every dataclass field of ``cls``.

    The text is taken from the most-derived class that declares the field with a comment;
    ``("", None)`` if no declaration has one.
    """
    docs = {}
    for f in dataclasses.fields(cls):
        docs[f.name] = ("", None)
        for c in _declaring_classes(cls, f.name):
            text = declared_comments(c).get(f.name, "")
            if text:
                docs[f.name] = (text, c)
                break
    return docs


def first_declaring_class(cls: type, name: str) -> Optional[type]:
    """The base-most class of ``cls``'s MRO that declares field ``name`` (its "home")."""
    classes = _declaring_classes(cls, name)
    return classes[-1] if classes else None


def missing_field_docs(cls: type) -> List[str]:
    """``"Class.field"`` for each field whose most-derived declaration has no comment.

    A subclass that overrides a default must say where its new default comes from, so the
    base's comment does not count for it.
    """
    missing = []
    for f in dataclasses.fields(cls):
        classes = _declaring_classes(cls, f.name)
        owner = classes[0] if classes else cls
        if not declared_comments(owner).get(f.name):
            missing.append(f"{owner.__module__}.{owner.__qualname__}.{f.name}")
    return missing


__all__ = ["declared_comments", "field_docs", "first_declaring_class", "missing_field_docs"]
