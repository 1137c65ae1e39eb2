"""The one gate between bytes and text: which encodings and characters meshform reads at all.

Every reader path (the fast engines yaml-rs and libyaml, the round-trip engine, the application-model
reader, stdin, the KRM function) gets its text from `reader.decode`, which calls this module, so they all
refuse exactly the same inputs with exactly the same located MF005. Checking here instead of in each
engine matters because the engines disagree: yaml-rs stops at a NUL (even inside a comment) and keeps
BEL or C1 controls in values, while ruamel and libyaml refuse them.

The characters refused are those outside YAML's printable set (what ruamel and libyaml refuse), plus
four that are printable but that readers read differently, so the same bytes would mean different
things to Kubernetes and to meshform's engines:
- U+0085 (NEL), U+2028, U+2029: YAML 1.1 readers (libyaml, Kubernetes' go-yaml) treat them as line
  breaks, YAML 1.2 readers do not; ruamel even turns NEL inside a value into a space.
- U+FEFF anywhere but at the very start: libyaml skips it at the start of a line, ruamel and yaml-rs
  keep it as part of the key or value.
They are the characters meshform's own writer never writes raw (it escapes them in double quotes).
"""

from __future__ import annotations

import re

from meshform.diagnostics import Diagnostic, Level, MeshformError

# Not YAML-printable (C0 but tab/LF/CR, DEL, C1, surrogates, U+FFFE/U+FFFF), or read differently.
UNREADABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
# Every byte but the ASCII controls UNREADABLE names: `raw.translate(None, _ASCII_READABLE)` leaves only
# those, ~10x faster than the regex on the (usual) all-ASCII input.
_ASCII_READABLE = bytes(b for b in range(256) if (b >= 0x20 and b != 0x7F) or b in b"\t\n\r")

_BOMS = (  # longest first: the UTF-32LE mark starts with the UTF-16LE one
    (b"\xff\xfe\x00\x00", "UTF-32LE"),
    (b"\x00\x00\xfe\xff", "UTF-32BE"),
    (b"\xff\xfe", "UTF-16LE"),
    (b"\xfe\xff", "UTF-16BE"),
)
_SAMPLE = 4096
_LINE_BREAK_11 = "YAML 1.1 readers (Kubernetes) read it as a line break, YAML 1.2 readers do not"
_WHY = {
    "\x85": _LINE_BREAK_11,
    "\u2028": _LINE_BREAK_11,
    "\u2029": _LINE_BREAK_11,
    "\ufeff": "a byte-order mark is only allowed at the very start; readers disagree about one elsewhere",
}


def _refuse(file: str, line: int, col: int, message: str, hint: str) -> MeshformError:
    return MeshformError([Diagnostic(file, line, col, Level.ERROR, "MF005", message, hint=hint)])


def check_encoding(raw: bytes, file: str) -> None:
    """Refuse UTF-16 and UTF-32, with or without a byte-order mark, at 1:1 (before UTF-8 decoding,
    which would accept BOM-less UTF-16 of ASCII text as UTF-8 full of NULs)."""
    found = next((name for bom, name in _BOMS if raw.startswith(bom)), None)
    if found is not None:
        raise _refuse(
            file, 1, 1, f"input is {found} (byte-order mark found); meshform reads UTF-8", _convert(found)
        )
    guess = _wide_encoding(raw[:_SAMPLE])
    if guess is not None:
        raise _refuse(
            file,
            1,
            1,
            f"input looks like {guess} without a byte-order mark (NUL bytes in a regular pattern); "
            "meshform reads UTF-8",
            _convert(guess),
        )


def _convert(encoding: str) -> str:
    return f"convert it to UTF-8, e.g. `iconv -f {encoding} -t UTF-8 FILE`"


def _wide_encoding(sample: bytes) -> str | None:
    """UTF-16/32 without a byte-order mark: NUL bytes at fixed positions of every 2 or 4 bytes (text in
    these encodings is mostly ASCII, whose high bytes are NUL). None for anything else."""
    if b"\0" not in sample or len(sample) < 4:
        return None
    quarter = len(sample) // 4
    nuls = [sum(1 for b in sample[r : quarter * 4 : 4] if b == 0) for r in range(4)]
    many, few = quarter * 3 // 4, quarter // 4
    if min(nuls[1:]) >= many and nuls[0] <= few:
        return "UTF-32LE"
    if min(nuls[:3]) >= many and nuls[3] <= few:
        return "UTF-32BE"
    odd, even = nuls[1] + nuls[3], nuls[0] + nuls[2]
    if odd >= 2 * many and even <= 2 * few:
        return "UTF-16LE"
    if even >= 2 * many and odd <= 2 * few:
        return "UTF-16BE"
    return None


def check_characters(raw: bytes, text: str, file: str) -> None:
    """Refuse the first character YAML does not allow, or that readers read differently, located at
    line:col (1-based, in characters). `text` is `raw` decoded, without its leading byte-order mark."""
    if not raw.translate(None, _ASCII_READABLE) and text.isascii():
        return  # the usual case, in well under a millisecond per megabyte
    found = UNREADABLE.search(text)
    if found is None:
        return
    pos, char = found.start(), found.group()
    line = text.count("\n", 0, pos) + 1
    col = pos - text.rfind("\n", 0, pos)
    if char == "\0":  # the most common one (often a sign of UTF-16), named plainly
        message = "NUL character in input: YAML does not allow it"
    elif char in _WHY:
        message = f"character U+{ord(char):04X} ({_name(char)}) is not accepted raw: {_WHY[char]}"
    else:
        message = f"control character U+{ord(char):04X} ({_name(char)}) is not allowed in YAML"
    hint = f'remove it, or write it escaped inside a double-quoted string ("\\u{ord(char):04x}")'
    raise _refuse(file, line, col, message, hint)


def _name(char: str) -> str:
    import unicodedata  # only on this error path

    fallback = "control" if ord(char) < 0xA0 else "noncharacter"
    return unicodedata.name(char, "") or _CONTROL_NAMES.get(char, fallback)


_CONTROL_NAMES = {
    "\x07": "BEL",
    "\x08": "BACKSPACE",
    "\x0b": "VERTICAL TAB",
    "\x0c": "FORM FEED",
    "\x1b": "ESCAPE",
    "\x7f": "DELETE",
}
