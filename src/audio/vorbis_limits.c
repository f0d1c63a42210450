/*
 * vorbis_limits.c - counts what libvorbis would allocate for the codebooks
 * of a Vorbis setup header, before libvorbis reads it (see vorbis_limits.h
 * for why). The codebooks are walked with libogg's bit reader as the
 * Vorbis I specification lays them out (section 3.2.1); nothing is decoded
 * or kept.
 */
#include "audio/vorbis_limits.h"

#include <ogg/ogg.h>
#include <stdbool.h>
#include <string.h>

/* What libvorbis 1.3.7 allocates per codebook entry: the code length it
 * reads (1 byte); to build the decoder, the codewords (4), then the sorted
 * codeword, its entry index and its length (4 + 4 + 1), and while sorting
 * a pointer and an index per entry on the stack (alloca, 8 + 4). Per entry
 * and dimension of a book with values: the dequantized value (a float).
 * Per book: fixed tables of up to ~1 KB. */
enum { BYTES_PER_ENTRY = 26, BYTES_PER_VALUE = 4, BYTES_PER_BOOK = 1024 };

/* The number of bits needed to write x (ilog in the specification). */
static int bits_for(uint64_t x) {
    int bits = 0;
    for (; x; x >>= 1) bits++;
    return bits;
}

/* Skips bits bits; false when fewer are left. */
static bool skip_bits(oggpack_buffer *b, uint64_t bits) {
    uint64_t left = (uint64_t)b->storage * 8 - (uint64_t)oggpack_bits(b);
    if (bits > left) return false;
    for (; bits > 0; bits -= bits > 32 ? 32 : bits) oggpack_read(b, bits > 32 ? 32 : (int)bits);
    return true;
}

/* The code lengths of an unordered book: 5 bits per entry, or a flag and
 * then 5 bits per used entry when the book is sparse. */
static bool skip_unordered_lengths(oggpack_buffer *b, long entries) {
    long sparse = oggpack_read(b, 1);
    if (sparse < 0) return false;
    for (long i = 0; i < entries; i++) {
        long used = sparse ? oggpack_read(b, 1) : 1;
        if (used < 0 || (used && oggpack_read(b, 5) < 0)) return false;
    }
    return true;
}

/* The code lengths of an ordered book: runs of entries of one length,
 * each length one more than the last (at most 32). */
static bool skip_ordered_lengths(oggpack_buffer *b, long entries) {
    long length = oggpack_read(b, 5) + 1;
    for (long entry = 0; entry < entries; length++) {
        long run = oggpack_read(b, bits_for((uint64_t)(entries - entry)));
        if (length < 1 || length > 32 || run < 0 || run > entries - entry) return false;
        entry += run;
    }
    return true;
}

/* For lookup type 1: the largest r with r^dimensions <= entries
 * (dimensions >= 1). */
static uint64_t lookup1_values(long entries, long dimensions) {
    if (dimensions == 1) return (uint64_t)entries;
    uint64_t r = 0; /* at most 4096 steps: entries < 2^24 */
    for (;; r++) {
        uint64_t power = 1;
        for (long d = 0; d < dimensions && power <= (uint64_t)entries; d++) power *= r + 1;
        if (power > (uint64_t)entries) return r;
    }
}

/* Adds one codebook's cost; false when the header ends or breaks inside
 * it (the count so far stands). */
static bool add_codebook(oggpack_buffer *b, vorbis_setup_cost *cost) {
    if (oggpack_read(b, 24) != 0x564342) return false; /* "BCV" */
    long dimensions = oggpack_read(b, 16), entries = oggpack_read(b, 24);
    if (dimensions < 0 || entries < 0) return false;
    cost->bytes += BYTES_PER_BOOK + (uint64_t)entries * BYTES_PER_ENTRY;
    if (entries > cost->largest_book) cost->largest_book = entries;
    long ordered = oggpack_read(b, 1);
    if (ordered < 0) return false;
    if (!(ordered ? skip_ordered_lengths(b, entries) : skip_unordered_lengths(b, entries))) return false;
    long lookup = oggpack_read(b, 4);
    if (lookup != 1 && lookup != 2) return lookup == 0;
    if (oggpack_read(b, 32) < 0 || oggpack_read(b, 32) < 0) return false; /* minimum, delta */
    long value_bits = oggpack_read(b, 4) + 1;
    if (value_bits < 1 || oggpack_read(b, 1) < 0) return false;
    uint64_t values = lookup == 1 ? (dimensions ? lookup1_values(entries, dimensions) : 0)
                                  : (uint64_t)entries * (uint64_t)dimensions;
    cost->bytes += values * sizeof(long) + (uint64_t)entries * (uint64_t)dimensions * BYTES_PER_VALUE;
    return skip_bits(b, values * (uint64_t)value_bits);
}

vorbis_setup_cost vorbis_setup_header_cost(const unsigned char *packet, long bytes) {
    vorbis_setup_cost cost = {0, 0};
    if (bytes < 8 || packet[0] != 5 || memcmp(packet + 1, "vorbis", 6) != 0) return cost;
    oggpack_buffer b;
    oggpack_readinit(&b, (unsigned char *)packet, bytes);
    oggpack_adv(&b, 7 * 8);
    long books = oggpack_read(&b, 8) + 1;
    for (long i = 0; i < books; i++)
        if (!add_codebook(&b, &cost)) break;
    return cost;
}
