/*
 * vorbis_limits.h - the memory libvorbis would allocate for the codebooks
 * of an Ogg input's Vorbis streams, counted before libvorbis sees them.
 *
 * A codebook's header gives its entry count in 24 bits, and libvorbis
 * allocates and fills a table of that many entries before it checks the
 * rest: a 1 KB setup header of 64 codebooks with "ordered" code lengths
 * made it take 514 MB (measured, libvorbis 1.3.7), and 256 codebooks, the
 * most a header may have, about 2 GB. A chained Ogg file repeats the
 * headers once per stream, and libvorbisfile keeps every stream's. One such
 * upload could stall or kill a server; audio_vorbis_open refuses an input
 * over these limits first. Real encoders' codebooks are far smaller (see
 * each limit).
 */
#ifndef R1_AUDIO_VORBIS_LIMITS_H
#define R1_AUDIO_VORBIS_LIMITS_H

#include <stdint.h>

#include "audio/audio_source.h"

/* The codebooks of one stream, in bytes. libvorbis's own encoder needs at
 * most 0.71 MB (measured: qualities -1 to 10, 1 to 6 channels, 48 kHz); a
 * setup header of any size can claim gigabytes. */
#define VORBIS_LINK_MAX_BYTES ((uint64_t)16 << 20)
/* All streams of one input together, and how many streams it may chain. */
#define VORBIS_INPUT_MAX_BYTES ((uint64_t)64 << 20)
#define VORBIS_MAX_LINKS 1024
/* Entries of one codebook. libvorbis sorts a book's codewords through two
 * arrays on the stack (alloca, 12 bytes per entry): a book of 2^23
 * entries, which a 10-byte header can declare, would overflow any thread's
 * stack. libvorbis's encoder's largest book has 6561 (3^8) entries. */
#define VORBIS_BOOK_MAX_ENTRIES 65536

/* What a setup header (the third header packet of a Vorbis stream) would
 * make libvorbis allocate for its codebooks: the code lengths and
 * quantized values it reads and the decoding tables it builds from them,
 * and the largest book's entry count. Counted as far as the packet can be
 * read; a malformed header is libvorbis's to refuse. */
typedef struct vorbis_setup_cost {
    uint64_t bytes;
    long largest_book;
} vorbis_setup_cost;

vorbis_setup_cost vorbis_setup_header_cost(const unsigned char *packet, long bytes);

/* Walks every page of in and checks every Vorbis stream's setup header
 * against the limits above: 0, or -1 with err naming the input and the
 * limit it passes. An input libogg cannot read is not refused here. */
int vorbis_check_limits(const audio_input *in, r1_error *err);

#endif
