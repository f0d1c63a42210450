/*
 * vorbis_limits.h - the memory libvorbis would allocate for a Vorbis
 * stream's codebooks, counted from its setup header before libvorbis reads
 * it (audio_vorbis.c does so for every stream of an input).
 *
 * A codebook's header gives its entry count in 24 bits, and libvorbis 1.3.7
 * allocates and fills a table of that many entries before it checks the
 * rest: a 1 KB setup header of 64 codebooks with "ordered" code lengths
 * made it take 514 MB (measured), and 256 codebooks, the most a header may
 * have, about 2 GB. It also sorts each book's codewords through arrays on
 * the stack (alloca, 12 bytes per entry). A residue's decoding map can
 * take hundreds of megabytes too (64 residues on a classification book of
 * 65536 entries and 16 dimensions: 354 MB from a 920-byte header, found by
 * a review). A chained Ogg file repeats the
 * headers once per stream. One such upload could stall or kill a server;
 * an input over these limits is refused first. Real encoders' codebooks
 * are far smaller (see each limit).
 */
#ifndef R1_AUDIO_VORBIS_LIMITS_H
#define R1_AUDIO_VORBIS_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

/* The setup of one stream (codebooks, floors, residues), in bytes.
 * libvorbis's own encoder needs at
 * most 1.48 MB by this count (measured through sox: qualities -1 to 10,
 * 1 to 8 channels, 8 to 48 kHz); a setup header of any size can claim
 * gigabytes. */
#define VORBIS_LINK_MAX_BYTES ((uint64_t)16 << 20)
/* All streams of one input together, and how many streams it may chain. */
#define VORBIS_INPUT_MAX_BYTES ((uint64_t)64 << 20)
#define VORBIS_MAX_LINKS 1024
/* Entries of one codebook: a book of 2^23 entries, which a 10-byte header
 * can declare, would take ~100 MB of a thread's stack in libvorbis's sort.
 * libvorbis's encoder's largest book has 6561 (3^8) entries. */
#define VORBIS_BOOK_MAX_ENTRIES 65536
/* Comments of one stream's comment header: libvorbis keeps ~50 bytes per
 * comment of 4 bytes (a 24 MB header of empty comments: 283 MB, found by
 * a review). Real files carry tens. */
#define VORBIS_MAX_COMMENTS 10000

/* What a setup header (the third header packet of a Vorbis stream) would
 * make libvorbis allocate: for its codebooks the code lengths and
 * quantized values it reads and the decoding tables it builds from them,
 * for its residues their decoding maps; and the largest book's entry
 * count. Where the walk cannot follow the header past the codebooks
 * (libvorbis stops no later than it within them), the residues are
 * counted at their worst (residues_walked false). */
typedef struct vorbis_setup_cost {
    uint64_t bytes;
    long largest_book;
    bool residues_walked;
} vorbis_setup_cost;

vorbis_setup_cost vorbis_setup_header_cost(const unsigned char *packet, long bytes);

/* The number of comments a comment header (the second header packet)
 * declares, or -1 when the packet does not get that far. */
long vorbis_comment_header_count(const unsigned char *packet, long bytes);

#endif
