#!/usr/bin/env python3
"""whisper_bin.py - an independent reader of whisper.cpp's ggml Whisper .bin
format (as described in ../shared/testdata/asr/README.md), for the tests of
`r1 model gen --arch whisper`. Standard library only.

    whisper_bin.py check FILE --shape NAME --ftype 0|1|2002|2003|2007|2008|2009
        [--header-from REF]        filters and vocabulary byte-identical to REF's
        [--filters-close-to REF]   filters within 1e-6 of REF's (prints the max difference)
        [--made-up-vocab]          50257 tokens, ids 0..255 one byte each
    whisper_bin.py same-values F32FILE F16FILE
        the f16 file holds the f32 file's values rounded to half where it stores f16

`check` reads every tensor record and fails (exit 1, one line per problem) on
a wrong magic, hparams, filter or vocabulary section, tensor name, order,
shape, type, byte size, or on bytes left over; it also checks the weight
statistics (gaussian std 0.02, LayerNorm weight 1 and bias 0).
"""
import math
import struct
import sys

SHAPES = {  # n_state, n_head, n_layer (audio = text)
    "tiny": (384, 6, 4),
    "base": (512, 8, 6),
    "small": (768, 12, 12),
    "medium": (1024, 16, 24),
    "large-v2": (1280, 20, 32),
}
STATS_SAMPLE = 50000  # elements read per tensor for the statistics
# ggml tensor types: values per block, bytes per block
TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34)}
# a file's ftype (ggml's, less whisper.cpp's 1000 x quantization version) ->
# the type of its 2-D weights
MATRIX_TYPE = {0: 0, 1: 1, 2: 2, 3: 3, 7: 8, 8: 6, 9: 7}


def expected_type(ftype, e_f16, n_dims):
    """whisper.cpp's quantizer: 2-D weights in the file's type, convolution
    kernels f16 in any file but an f32 one, everything else f32."""
    if not e_f16 or ftype == 0:
        return 0
    return MATRIX_TYPE[ftype % 1000] if n_dims == 2 else 1


def expected_hparams(shape, ftype):
    n, h, layers = SHAPES[shape]
    return [51865, 1500, n, h, layers, 448, n, h, layers, 80, ftype]


def expected_tensors(n_vocab, n_audio_ctx, n, n_audio_layer, n_text_ctx, n_text_layer, n_mels):
    """(name, PyTorch shape, f16 in an ftype 1 file, init) in whisper.cpp's order."""
    out = []

    def linear(prefix, o, i, bias=True):
        out.append((prefix + ".weight", [o, i], True, "gauss"))
        if bias:
            out.append((prefix + ".bias", [o], False, "gauss"))

    def norm(prefix):
        out.append((prefix + ".weight", [n], False, "ones"))
        out.append((prefix + ".bias", [n], False, "zeros"))

    def block(prefix, cross):
        for attn in ["attn", "cross_attn"] if cross else ["attn"]:
            linear(f"{prefix}.{attn}.query", n, n)
            linear(f"{prefix}.{attn}.key", n, n, bias=False)
            linear(f"{prefix}.{attn}.value", n, n)
            linear(f"{prefix}.{attn}.out", n, n)
            norm(f"{prefix}.{attn}_ln")
        linear(f"{prefix}.mlp.0", 4 * n, n)
        linear(f"{prefix}.mlp.2", n, 4 * n)
        norm(f"{prefix}.mlp_ln")

    out.append(("encoder.positional_embedding", [n_audio_ctx, n], False, "gauss"))
    out.append(("encoder.conv1.weight", [n, n_mels, 3], True, "gauss"))
    out.append(("encoder.conv1.bias", [n, 1], False, "gauss"))
    out.append(("encoder.conv2.weight", [n, n, 3], True, "gauss"))
    out.append(("encoder.conv2.bias", [n, 1], False, "gauss"))
    for i in range(n_audio_layer):
        block(f"encoder.blocks.{i}", False)
    norm("encoder.ln_post")
    out.append(("decoder.positional_embedding", [n_text_ctx, n], False, "gauss"))
    out.append(("decoder.token_embedding.weight", [n_vocab, n], True, "gauss"))
    for i in range(n_text_layer):
        block(f"decoder.blocks.{i}", True)
    norm("decoder.ln")
    return out


class Reader:
    def __init__(self, path):
        self.f = open(path, "rb")
        self.f.seek(0, 2)
        self.size = self.f.tell()
        self.f.seek(0)

    def i32(self):
        b = self.f.read(4)
        if len(b) != 4:
            raise EOFError("file ends inside an int32")
        return struct.unpack("<i", b)[0]

    def exact(self, n):
        b = self.f.read(n)
        if len(b) != n:
            raise EOFError(f"file ends: wanted {n} bytes, got {len(b)}")
        return b


def read_header(path):
    """magic, hparams, filters (list of floats, n_mel, n_fft), vocab (list of bytes), reader."""
    r = Reader(path)
    magic = struct.unpack("<I", r.exact(4))[0]
    hparams = [r.i32() for _ in range(11)]
    n_mel, n_fft = r.i32(), r.i32()
    filters = list(struct.unpack(f"<{n_mel * n_fft}f", r.exact(4 * n_mel * n_fft)))
    n_tokens = r.i32()
    vocab = []
    for _ in range(n_tokens):
        length = struct.unpack("<I", r.exact(4))[0]
        vocab.append(r.exact(length))
    return magic, hparams, (filters, n_mel, n_fft), vocab, r


def read_tensor_records(r):
    """Yields (name, ne, ttype, data offset, data bytes) and skips the data."""
    while True:
        head = r.f.read(4)
        if not head:
            return
        if len(head) != 4:
            raise EOFError("file ends inside a tensor header")
        n_dims = struct.unpack("<i", head)[0]
        name_len, ttype = r.i32(), r.i32()
        if not 1 <= n_dims <= 4 or not 0 < name_len < 256 or ttype not in TYPES:
            raise ValueError(f"bad tensor header n_dims {n_dims} name_len {name_len} ttype {ttype}")
        ne = [r.i32() for _ in range(n_dims)]
        name = r.exact(name_len).decode()
        count = math.prod(ne)
        per_block, block_bytes = TYPES[ttype]
        if ne[0] % per_block:
            raise ValueError(f"{name}: rows of {ne[0]} values are not whole blocks of type {ttype}")
        size = count // per_block * block_bytes
        offset = r.f.tell()
        yield name, ne, ttype, offset, count
        if offset + size > r.size:
            raise EOFError(f"{name}: data runs past the end of the file")
        r.f.seek(offset + size)


def read_values(f, offset, ttype, count):
    f.seek(offset)
    if ttype == 8:  # q8_0: an f16 scale and 32 signed bytes per block
        count -= count % 32
        data = f.read(count // 32 * 34)
        values = []
        for b in range(0, len(data), 34):
            d = struct.unpack("<e", data[b:b + 2])[0]
            values.extend(d * q for q in struct.unpack("<32b", data[b + 2:b + 34]))
        return values
    if ttype not in (0, 1):
        return []  # the 4- and 5-bit types: names, shapes and sizes are checked, not values
    width = 2 if ttype == 1 else 4
    data = f.read(count * width)
    if len(data) != count * width:
        raise EOFError("tensor data is cut short")
    return struct.unpack(f"<{count}{'e' if ttype == 1 else 'f'}", data)


def check(path, shape, ftype, header_from=None, filters_close_to=None, made_up_vocab=False):
    problems = []
    magic, hparams, (filters, n_mel, n_fft), vocab, r = read_header(path)
    if magic != 0x67676D6C:
        problems.append(f"magic 0x{magic:08x}")
    if hparams != expected_hparams(shape, ftype):
        problems.append(f"hparams {hparams}, expected {expected_hparams(shape, ftype)}")
    if (n_mel, n_fft) != (80, 201):
        problems.append(f"filters {n_mel}x{n_fft}")
    if header_from:
        _, _, (ref_filters, _, _), ref_vocab, _ = read_header(header_from)
        if struct.pack(f"<{len(filters)}f", *filters) != struct.pack(f"<{len(ref_filters)}f", *ref_filters):
            problems.append("filters differ from the --vocab-from file's")
        if vocab != ref_vocab:
            problems.append(f"vocabulary differs from the --vocab-from file's ({len(vocab)} vs {len(ref_vocab)} tokens)")
    if filters_close_to:
        _, _, (ref_filters, _, _), _, _ = read_header(filters_close_to)
        diff = max(abs(a - b) for a, b in zip(filters, ref_filters))
        print(f"mel filters: max abs difference to the reference {diff:.3g} (largest value {max(ref_filters):.4f})")
        if len(filters) != len(ref_filters) or diff > 1e-6:
            problems.append(f"filters differ from the reference by {diff:.3g}")
    if made_up_vocab:
        if len(vocab) != 50257:
            problems.append(f"{len(vocab)} tokens, expected 50257")
        if [v for v in vocab[:256]] != [bytes([i]) for i in range(256)]:
            problems.append("tokens 0..255 are not the 256 single bytes")
        if len(set(vocab)) != len(vocab):
            problems.append("token texts are not distinct")

    n_vocab, n_audio_ctx, n, _, n_audio_layer, n_text_ctx, _, _, n_text_layer, n_mels, _ = hparams
    expected = expected_tensors(n_vocab, n_audio_ctx, n, n_audio_layer, n_text_ctx, n_text_layer, n_mels)
    got = list(read_tensor_records(r))
    want_count = 7 + 15 * n_audio_layer + 4 + 24 * n_text_layer
    if len(got) != want_count or len(expected) != want_count:
        problems.append(f"{len(got)} tensors, expected {want_count}")
    for (name, ne, ttype, offset, count), (e_name, e_shape, e_f16, init) in zip(got, expected):
        e_type = expected_type(ftype, e_f16, len(e_shape))
        if name != e_name or ne != e_shape[::-1] or ttype != e_type:
            problems.append(f"tensor {name} ne {ne} type {ttype}, expected {e_name} ne {e_shape[::-1]} type {e_type}")
            continue
        values = read_values(r.f, offset, ttype, min(count, STATS_SAMPLE))
        if init == "ones" and any(v != 1.0 for v in values):
            problems.append(f"{name}: LayerNorm weight not all 1")
        elif init == "zeros" and any(v != 0.0 for v in values):
            problems.append(f"{name}: LayerNorm bias not all 0")
        elif init == "gauss" and len(values) >= 1000:
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
            if not (0.018 < std < 0.022 and abs(mean) < 0.003):
                problems.append(f"{name}: mean {mean:.4f} std {std:.4f}, expected about 0 and 0.02")
    print(f"{path}: {len(got)} tensors, {r.size} bytes, {len(vocab)} tokens")
    for p in problems:
        print("PROBLEM: " + p, file=sys.stderr)
    return not problems


def same_values(f32_path, f16_path):
    _, _, _, _, r32 = read_header(f32_path)
    _, _, _, _, r16 = read_header(f16_path)
    compared = 0
    for a, b in zip(list(read_tensor_records(r32)), list(read_tensor_records(r16))):
        if a[0] != b[0]:
            print(f"PROBLEM: tensor order differs: {a[0]} vs {b[0]}", file=sys.stderr)
            return False
        n = min(a[4], 4096)
        va = read_values(r32.f, a[3], a[2], n)
        vb = read_values(r16.f, b[3], b[2], n)
        if b[2] == 1:
            va = struct.unpack(f"<{n}e", struct.pack(f"<{n}e", *va))  # round to half, nearest even
        if va != vb:
            print(f"PROBLEM: {a[0]}: values differ", file=sys.stderr)
            return False
        compared += 1
    print(f"same values in {compared} tensors")
    return compared > 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "same-values":
        return 0 if same_values(argv[1], argv[2]) else 1
    if len(argv) < 2 or argv[0] != "check":
        print(__doc__, file=sys.stderr)
        return 2
    path, opts, i = argv[1], {}, 2
    while i < len(argv):
        if argv[i] == "--made-up-vocab":
            opts["made_up_vocab"] = True
            i += 1
        else:
            opts[argv[i][2:].replace("-", "_")] = argv[i + 1]
            i += 2
    shape, ftype = opts.pop("shape"), int(opts.pop("ftype"))
    try:
        return 0 if check(path, shape, ftype, **opts) else 1
    except (EOFError, ValueError, UnicodeDecodeError, struct.error) as e:
        print(f"PROBLEM: {path}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
