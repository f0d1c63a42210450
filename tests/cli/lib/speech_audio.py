#!/usr/bin/env python3
"""speech_audio.py - the checks of spoken audio shared by the tests of
`r1 speak` and /v1/audio/speech. Standard library only.

    speech_audio.py FILE wav|pcm|flac|opus

Fails (exit 1 with the reason) unless the file is well formed for its
format: wav a 24 kHz 16-bit mono RIFF header (its sizes may say 0xFFFFFFFF,
as a streamed WAV's do), flac and opus their magic (and OpusHead). For wav
and pcm it also fails on silence (rms < 300) or clipping (more than 1 in
1000 samples at full scale) and prints the seconds of audio.
"""
import array
import math
import sys


def main(path, fmt):
    data = open(path, "rb").read()
    magic = {"wav": b"RIFF", "flac": b"fLaC", "opus": b"OggS"}
    if fmt in magic and not data.startswith(magic[fmt]):
        return f"{path}: starts with {data[:8]!r}, not {fmt}"
    if fmt == "opus" and b"OpusHead" not in data[:200]:
        return f"{path}: no OpusHead in the first page"
    if fmt not in ("wav", "pcm"):
        return None
    if fmt == "wav":
        header = (data[8:16], int.from_bytes(data[22:24], "little"), int.from_bytes(data[24:28], "little"),
                  int.from_bytes(data[34:36], "little"), data[36:40])
        if header != (b"WAVEfmt ", 1, 24000, 16, b"data"):
            return f"{path}: not a 24 kHz 16-bit mono PCM header: {header!r}"
        data = data[44:]
    s = array.array("h", data[: len(data) // 2 * 2])
    rms = math.sqrt(sum(x * x for x in s) / max(len(s), 1))
    clipped = sum(1 for x in s if abs(x) >= 32767)
    if rms < 300:
        return f"{path}: silent (rms {rms:.0f})"
    if clipped > len(s) // 1000:
        return f"{path}: {clipped} clipped samples"
    print(f"{len(s) / 24000:.3f}")
    return None


if __name__ == "__main__":
    problem = main(sys.argv[1], sys.argv[2])
    if problem:
        sys.exit(problem)
