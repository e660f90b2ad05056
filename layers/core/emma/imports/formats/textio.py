"""Reading an export file once, as UTF-8, in pieces: its first bytes for detection, then physical
lines (CSV, JSON Lines) or chunks (a JSON array, which may be one long line). A byte that is not
UTF-8 stops the reading at its line: Emma does not guess another encoding."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Protocol

HEAD_BYTES = 64 * 1024
CHUNK_BYTES = 64 * 1024
MAX_LINE_BYTES = 32 * 1024 * 1024


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class TextProblem(Exception):
    """The file cannot be read on from ``line``: not UTF-8, or a line longer than any export writes."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def not_utf8(line: int, exc: UnicodeDecodeError, column_offset: int = 0) -> TextProblem:
    bad = exc.object[exc.start : exc.start + 1]
    return TextProblem(
        line,
        f"the file is not UTF-8 (byte 0x{bad.hex().upper()} at byte {column_offset + 1} of the line): save it "
        'as UTF-8 (Excel: "CSV UTF-8") and import it again; nothing after this line was read',
    )


class Source:
    """A binary stream read once: ``head`` (its first bytes) is read on creation, for detection; the
    readers then take the whole file, head included, as lines or chunks."""

    def __init__(self, stream: Readable, head_bytes: int = HEAD_BYTES) -> None:
        self._stream = stream
        self.head = stream.read(head_bytes) or b""
        self._taken = False

    def chunks(self, size: int = CHUNK_BYTES) -> Iterator[bytes]:
        if self._taken:
            raise RuntimeError("an export file is read once")
        self._taken = True
        if self.head:
            yield self.head
        while chunk := self._stream.read(size):
            yield chunk

    def byte_lines(self) -> Iterator[bytes]:
        """Physical lines, each with its b"\\n" (the last one may have none)."""
        pending = b""
        number = 0
        for chunk in self.chunks():
            parts = (pending + chunk).split(b"\n")
            pending = parts.pop()
            for part in parts:
                number += 1
                yield part + b"\n"
            if len(pending) > MAX_LINE_BYTES:
                raise TextProblem(number + 1, f"line longer than {MAX_LINE_BYTES >> 20} MB: not a file Emma can read")
        if pending:
            yield pending

    def lines(self) -> Iterator[str]:
        """Physical lines as text (UTF-8, a BOM at the start dropped), with their line ends."""
        for number, raw in enumerate(self.byte_lines(), start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise not_utf8(number, exc, exc.start) from None
            if number == 1:
                text = text.removeprefix("\ufeff")
            yield text


class TextChunks:
    """The file as text in chunks, for a JSON array: ``more()`` appends the next chunk to ``text``.
    A byte that is not UTF-8 ends the text before it and sets ``problem`` (with its line)."""

    def __init__(self, source: Source) -> None:
        self._chunks = source.chunks()
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._newlines = 0  # line ends in the text decoded so far
        self._started = False
        self.text = ""
        self.eof = False
        self.problem: TextProblem | None = None

    def more(self) -> bool:
        """Append the next chunk; False at the end of the file (or at a byte that is not UTF-8)."""
        if self.eof:
            return False
        chunk = next(self._chunks, None)
        final = chunk is None
        try:
            piece = self._decoder.decode(chunk or b"", final)
        except UnicodeDecodeError as exc:
            good = exc.object[: exc.start]
            piece = good.decode("utf-8", "ignore")
            line = self._newlines + piece.count("\n") + 1
            self.problem = not_utf8(line, exc, exc.start - (good.rfind(b"\n") + 1))
            final = True
        if not self._started and piece:
            piece = piece.removeprefix("\ufeff")
            self._started = True
        self._newlines += piece.count("\n")
        self.text += piece
        self.eof = final
        return bool(piece) or not final

    def drop(self, upto: int) -> None:
        """Forget the text before ``upto`` (already read)."""
        self.text = self.text[upto:]
