/*
 * vorbis_limits.c - counts what libvorbis would allocate for the codebooks
 * of an Ogg input's Vorbis streams, before libvorbis reads them (see
 * vorbis_limits.h for why). The setup header's codebooks are walked with
 * libogg's bit reader as the Vorbis I specification lays them out
 * (section 3.2.1); nothing is decoded or kept.
 */
#include "audio/vorbis_limits.h"

#include <ogg/ogg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What libvorbis 1.3.7 allocates per codebook entry: the code length it
 * reads (1 byte), then for decoding the codeword, its index and its length
 * (4 + 4 + 1), and while sorting them a pointer per entry on the stack
 * (alloca, 8). Per entry and dimension of a book with values: the
 * dequantized value (a float). Per book: fixed tables of up to ~1 KB. */
enum { BYTES_PER_ENTRY = 18, BYTES_PER_VALUE = 4, BYTES_PER_BOOK = 1024 };

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

/* ---- every Vorbis stream of an input ---- */

/* Streams interleaved at once (a multiplexed file); chained streams follow
 * one another and reuse the slots. */
enum { MAX_OPEN_STREAMS = 16 };

typedef struct open_stream {
    bool used;
    bool reading; /* headers still to come: os holds them */
    int serial;
    int packets;
    ogg_stream_state os;
} open_stream;

typedef struct limits_walk {
    open_stream streams[MAX_OPEN_STREAMS];
    int links;
    uint64_t total;
    const char *name;
    r1_error *err;
} limits_walk;

static void stop_reading(open_stream *s) {
    if (s->reading) ogg_stream_clear(&s->os);
    s->reading = false;
}

/* The stream a page belongs to, in *out: the one open with its serial
 * number, a new one for a first page (a serial number reused by a new
 * first page starts a new stream), or NULL for a page of no stream seen to
 * begin. -1 when no slot is free for a new stream. */
static int stream_of(limits_walk *w, ogg_page *page, open_stream **out) {
    int serial = ogg_page_serialno(page);
    open_stream *s = NULL, *free_slot = NULL;
    for (int i = 0; i < MAX_OPEN_STREAMS; i++) {
        if (w->streams[i].used && w->streams[i].serial == serial) s = &w->streams[i];
        if (!w->streams[i].used && !free_slot) free_slot = &w->streams[i];
    }
    *out = s;
    if (!ogg_page_bos(page)) return 0;
    if (s) stop_reading(s);
    else s = free_slot;
    if (!s) return r1_error_set(w->err, "%s: more than %d Ogg streams at once", w->name, MAX_OPEN_STREAMS);
    *s = (open_stream){.used = true, .reading = true, .serial = serial};
    ogg_stream_init(&s->os, serial);
    *out = s;
    return 0;
}

/* One packet of a stream's headers: the first says whether it is Vorbis,
 * the third (the setup header) is counted. */
static int take_header(limits_walk *w, open_stream *s, const ogg_packet *packet) {
    s->packets++;
    if (s->packets == 1) {
        if (packet->bytes < 7 || memcmp(packet->packet, "\x01vorbis", 7) != 0) stop_reading(s);
        else if (++w->links > VORBIS_MAX_LINKS)
            return r1_error_set(w->err, "%s: more than %d chained Vorbis streams", w->name, VORBIS_MAX_LINKS);
        return 0;
    }
    if (s->packets < 3) return 0;
    vorbis_setup_cost cost = vorbis_setup_header_cost(packet->packet, packet->bytes);
    stop_reading(s);
    if (cost.largest_book > VORBIS_BOOK_MAX_ENTRIES)
        return r1_error_set(w->err, "%s: a Vorbis codebook of %ld entries (the limit is %d)", w->name,
                            cost.largest_book, VORBIS_BOOK_MAX_ENTRIES);
    if (cost.bytes > VORBIS_LINK_MAX_BYTES)
        return r1_error_set(w->err, "%s: a Vorbis stream's codebooks would take %.0f MB to decode (the limit is %.0f MB)",
                            w->name, cost.bytes / 1048576.0, VORBIS_LINK_MAX_BYTES / 1048576.0);
    w->total += cost.bytes;
    if (w->total > VORBIS_INPUT_MAX_BYTES)
        return r1_error_set(w->err, "%s: its chained Vorbis streams' codebooks would take more than %.0f MB to decode",
                            w->name, VORBIS_INPUT_MAX_BYTES / 1048576.0);
    return 0;
}

static int take_page(limits_walk *w, ogg_page *page) {
    open_stream *s;
    if (stream_of(w, page, &s) != 0) return -1;
    if (!s) return 0;
    if (s->reading && ogg_stream_pagein(&s->os, page) == 0) {
        ogg_packet packet;
        for (int got; s->reading && (got = ogg_stream_packetout(&s->os, &packet)) != 0;)
            if (got > 0 && take_header(w, s, &packet) != 0) return -1;
    }
    if (ogg_page_eos(page)) {
        stop_reading(s);
        s->used = false;
    }
    return 0;
}

/* Feeds n bytes to the page reader and takes every whole page. */
static int take_bytes(limits_walk *w, ogg_sync_state *sync, const unsigned char *bytes, size_t n) {
    char *into = ogg_sync_buffer(sync, (long)n);
    if (!into) return r1_error_set(w->err, "%s: out of memory", w->name);
    memcpy(into, bytes, n);
    ogg_sync_wrote(sync, (long)n);
    ogg_page page;
    for (int got; (got = ogg_sync_pageout(sync, &page)) != 0;)
        if (got > 0 && take_page(w, &page) != 0) return -1;
    return 0;
}

int vorbis_check_limits(const audio_input *in, r1_error *err) {
    enum { CHUNK = 65536 };
    limits_walk w = {.name = in->name, .err = err};
    ogg_sync_state sync;
    ogg_sync_init(&sync);
    int rc = 0;
    if (in->path) {
        FILE *f = fopen(in->path, "rb");
        unsigned char *chunk = malloc(CHUNK);
        size_t n;
        while (rc == 0 && f && chunk && (n = fread(chunk, 1, CHUNK, f)) > 0) rc = take_bytes(&w, &sync, chunk, n);
        if (f) fclose(f);
        free(chunk);
    } else {
        for (size_t at = 0; rc == 0 && at < in->size; at += CHUNK)
            rc = take_bytes(&w, &sync, in->data + at, in->size - at < CHUNK ? in->size - at : CHUNK);
    }
    for (int i = 0; i < MAX_OPEN_STREAMS; i++) stop_reading(&w.streams[i]);
    ogg_sync_clear(&sync);
    return rc;
}
