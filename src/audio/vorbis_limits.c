/*
 * vorbis_limits.c - counts what libvorbis would allocate for a Vorbis
 * setup header, before libvorbis reads it (see vorbis_limits.h for why).
 * The header is walked with libogg's bit reader as the Vorbis I
 * specification lays it out (section 4.2.4: codebooks as in 3.2.1, time
 * domain transforms, floors as in 6.2.1 and 7.2.2, residues as in 8.6.1);
 * nothing is decoded or kept. Codebooks and residues are what can cost
 * much; floors up to ~33 KB each (floor 0's lazily built map), mappings and
 * modes ~0.4 MB in all, counted as a fixed margin.
 */
#include "audio/vorbis_limits.h"

#include <ogg/ogg.h>
#include <stdbool.h>
#include <string.h>

/* A setup header has at most 256 codebooks and 64 residues (their counts
 * are 8 and 6 bits). */
enum { MAX_BOOKS = 256, MAX_RESIDUES = 64 };

/* Per residue, libvorbis builds a decoding map of partitions^dimensions
 * (of its classification book) entries, each a pointer (8) to a malloc'd
 * array of dimensions ints (malloc rounds 4 per dimension + 8 of its own
 * up to 16, at least 32); per residue ~2.3 KB of description and up to 64
 * stage arrays of ~80 bytes (~9.2 KB in all). Per floor up to ~33 KB; per setup header a
 * margin for mappings and modes. */
enum { BYTES_PER_RESIDUE = 10 * 1024, BYTES_PER_FLOOR = 33 * 1024, BYTES_PER_SETUP = 512 * 1024 };

static uint64_t bytes_per_partition_value(long dimensions) {
    uint64_t array = (4 * (uint64_t)dimensions + 8 + 15) / 16 * 16;
    return 8 + (array < 32 ? 32 : array);
}

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

/* A codebook's shape, for the residues that use it. */
typedef struct book_shape {
    long entries, dimensions;
} book_shape;

/* Adds one codebook's cost; false when the header ends or breaks inside
 * it (the count so far stands). */
static bool add_codebook(oggpack_buffer *b, vorbis_setup_cost *cost, book_shape *shape) {
    if (oggpack_read(b, 24) != 0x564342) return false; /* "BCV" */
    long dimensions = oggpack_read(b, 16), entries = oggpack_read(b, 24);
    if (dimensions < 0 || entries < 0) return false;
    *shape = (book_shape){entries, dimensions};
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

/* The time domain transforms: placeholders, each 16 zero bits. */
static bool skip_time_domain(oggpack_buffer *b) {
    long count = oggpack_read(b, 6) + 1;
    for (long i = 0; i < count; i++)
        if (oggpack_read(b, 16) != 0) return false;
    return count > 0;
}

/* A floor of type 0 (section 6.2.1) or 1 (7.2.2). */
static bool skip_floor(oggpack_buffer *b, long books) {
    long type = oggpack_read(b, 16);
    if (type == 0) {
        static const int field_bits[] = {8, 16, 16, 6, 8}; /* order, rate, bark map size, amplitude bits, offset */
        for (size_t i = 0; i < sizeof field_bits / sizeof field_bits[0]; i++)
            if (oggpack_read(b, field_bits[i]) < 0) return false;
        long n = oggpack_read(b, 4) + 1;
        for (long i = 0; i < n; i++) {
            long book = oggpack_read(b, 8);
            if (book < 0 || book >= books) return false;
        }
        return n > 0;
    }
    if (type != 1) return false;
    long partitions = oggpack_read(b, 5), max_class = -1, partition_class[32], class_dimensions[16];
    if (partitions < 0) return false;
    for (long i = 0; i < partitions; i++) {
        partition_class[i] = oggpack_read(b, 4);
        if (partition_class[i] < 0) return false;
        if (partition_class[i] > max_class) max_class = partition_class[i];
    }
    for (long c = 0; c <= max_class; c++) {
        class_dimensions[c] = oggpack_read(b, 3) + 1;
        long subclasses = oggpack_read(b, 2);
        if (class_dimensions[c] < 1 || subclasses < 0) return false;
        if (subclasses && oggpack_read(b, 8) < 0) return false; /* the master book */
        for (long k = 0; k < 1L << subclasses; k++)
            if (oggpack_read(b, 8) < 0) return false;
    }
    if (oggpack_read(b, 2) < 0) return false; /* the multiplier */
    long range_bits = oggpack_read(b, 4);
    if (range_bits < 0) return false;
    for (long i = 0; i < partitions; i++)
        for (long j = 0; j < class_dimensions[partition_class[i]]; j++)
            if (range_bits > 0 && oggpack_read(b, (int)range_bits) < 0) return false;
    return true;
}

static bool skip_floors(oggpack_buffer *b, long books, vorbis_setup_cost *cost) {
    long count = oggpack_read(b, 6) + 1;
    cost->bytes += (uint64_t)(count > 0 ? count : 64) * BYTES_PER_FLOOR;
    for (long i = 0; i < count; i++)
        if (!skip_floor(b, books)) return false;
    return count > 0;
}

/* A residue (section 8.6.1), costed by the decoding map libvorbis builds
 * for it: partitions^dimensions of its classification book, as long as
 * that stays within the book's entries (libvorbis refuses it beyond). */
static bool add_residue(oggpack_buffer *b, const book_shape *shapes, long books, vorbis_setup_cost *cost) {
    long type = oggpack_read(b, 16);
    if (type < 0 || type > 2) return false;
    oggpack_read(b, 24); /* begin */
    oggpack_read(b, 24); /* end */
    oggpack_read(b, 24); /* partition size */
    long partitions = oggpack_read(b, 6) + 1, class_book = oggpack_read(b, 8);
    if (class_book < 0) return false;
    long stages = 0;
    for (long i = 0; i < partitions; i++) {
        long low = oggpack_read(b, 3), flag = oggpack_read(b, 1), high = flag > 0 ? oggpack_read(b, 5) : 0;
        if (low < 0 || flag < 0 || high < 0) return false;
        for (long cascade = high << 3 | low; cascade; cascade >>= 1) stages += cascade & 1;
    }
    for (long i = 0; i < stages; i++)
        if (oggpack_read(b, 8) < 0) return false;
    if (class_book >= books) return false;
    const book_shape *book = &shapes[class_book];
    uint64_t values = 1;
    for (long d = 0; d < book->dimensions && values <= (uint64_t)book->entries; d++) values *= (uint64_t)partitions;
    cost->bytes += BYTES_PER_RESIDUE;
    if (book->dimensions >= 1 && values <= (uint64_t)book->entries)
        cost->bytes += values * bytes_per_partition_value(book->dimensions);
    return true;
}

/* When the walk cannot follow the header to its residues (libvorbis may
 * still read it): what 64 residues could cost at most, each on its
 * costliest possible classification book. */
static uint64_t residues_at_most(const book_shape *shapes, long books) {
    uint64_t worst = 0;
    for (long i = 0; i < books; i++) {
        uint64_t one = (uint64_t)shapes[i].entries * bytes_per_partition_value(shapes[i].dimensions);
        if (one > worst) worst = one;
    }
    return MAX_RESIDUES * (worst + BYTES_PER_RESIDUE);
}

long vorbis_comment_header_count(const unsigned char *packet, long bytes) {
    if (bytes < 8 || packet[0] != 3 || memcmp(packet + 1, "vorbis", 6) != 0) return -1;
    oggpack_buffer b;
    oggpack_readinit(&b, (unsigned char *)packet, bytes);
    oggpack_adv(&b, 7 * 8);
    long vendor = oggpack_read(&b, 32);
    if (vendor < 0 || !skip_bits(&b, 8 * (uint64_t)vendor)) return -1;
    return oggpack_read(&b, 32);
}

vorbis_setup_cost vorbis_setup_header_cost(const unsigned char *packet, long bytes) {
    vorbis_setup_cost cost = {0, 0, false};
    if (bytes < 8 || packet[0] != 5 || memcmp(packet + 1, "vorbis", 6) != 0) return cost;
    oggpack_buffer b;
    oggpack_readinit(&b, (unsigned char *)packet, bytes);
    oggpack_adv(&b, 7 * 8);
    long books = oggpack_read(&b, 8) + 1;
    book_shape shapes[MAX_BOOKS];
    for (long i = 0; i < books; i++)
        if (!add_codebook(&b, &cost, &shapes[i])) return cost; /* libvorbis stops here too */
    cost.bytes += BYTES_PER_SETUP;
    bool walked = skip_time_domain(&b) && skip_floors(&b, books, &cost);
    long residues = walked ? oggpack_read(&b, 6) + 1 : 0;
    for (long i = 0; walked && i < residues; i++) walked = add_residue(&b, shapes, books, &cost);
    cost.residues_walked = walked && residues > 0;
    if (!cost.residues_walked) cost.bytes += residues_at_most(shapes, books);
    return cost;
}
