/*
 * audio_vorbis.c - the Ogg Vorbis decoder of audio_source.h (libogg splits
 * the input into pages and packets, libvorbis decodes them), and the test
 * that routes Ogg inputs here rather than to libsndfile.
 *
 * Why neither of the usual wrappers:
 * - libsndfile, when it refuses a stream's headers, keeps the codec setup
 *   it had begun (vorbis_info_init with no vorbis_info_clear): ~5.8 KB
 *   lost per malformed upload, in a server that runs for months.
 * - libvorbisfile reads the header packets itself, so nothing could check
 *   a setup header before libvorbis allocates for its codebooks (see
 *   vorbis_limits.h: a 21-byte header can ask for a stack overflow), and
 *   its seekable open leaks on damaged chains.
 * Here every header packet passes through our hands: the setup header is
 * costed (vorbis_setup_header_cost) immediately before
 * vorbis_synthesis_headerin reads it, and every failure clears all state.
 *
 * Which stream is read: the first Vorbis stream to begin (its first page
 * says "\x01vorbis"); pages of other streams (a video track) are skipped.
 * Once that stream's last page has come, the next Vorbis stream to begin
 * is read as the next link of a chained file: its channel count may
 * differ (each chunk is averaged with its own), its sample rate may not.
 * The input is read front to back once, so the length is unknown until
 * the end (the pipeline counts frames against its limit as they come).
 */
#include <errno.h>
#include <ogg/ogg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vorbis/codec.h>

#include "audio/audio_file.h"
#include "audio/audio_source.h"
#include "audio/vorbis_limits.h"

/* Bytes handed to libogg per read of the input. */
#define INPUT_CHUNK 65536
/* How far into an input audio_reads_as_vorbis looks for the first page
 * (libsndfile looks at about 4 KB). */
#define SNIFF_BYTES 16384
/* Bytes outside any page an input may hold in all (libogg skips them
 * while it looks for the next page): a few where a page was damaged. Each
 * "OggS" in them costs a checksum over as much as 64 KB, so an input of
 * nothing but false starts (25 MB: ~100 s of CPU) is refused early (at
 * 64 KB: ~0.2 s). After audio has come, they end the input instead
 * (something appended to a file). */
#define MAX_BYTES_OUTSIDE_PAGES (64 * 1024)

typedef struct vorbis_state {
    const char *name;
    /* the input: a file or memory */
    FILE *file;
    const unsigned char *data;
    size_t size, pos;
    ogg_sync_state sync; /* the input cut into pages */
    /* the current link */
    ogg_stream_state stream;
    vorbis_info info;
    vorbis_comment comment;
    vorbis_dsp_state dsp;
    vorbis_block block;
    bool stream_open, info_open, dsp_open;
    bool link_ended; /* its last page (EOS) has been read */
    bool link_has_audio; /* an audio packet of it has been decoded */
    int headers;     /* its header packets read so far; 3 = decoding audio */
    /* the whole input */
    int links;
    int rate; /* of the first link: every link must keep it */
    uint64_t setup_bytes;
    uint64_t bytes_outside_pages;
    long frames_read;
} vorbis_state;

/* ---- links ---- */

static void close_link(vorbis_state *st) {
    if (st->dsp_open) {
        vorbis_block_clear(&st->block);
        vorbis_dsp_clear(&st->dsp);
    }
    if (st->info_open) {
        vorbis_comment_clear(&st->comment);
        vorbis_info_clear(&st->info);
    }
    if (st->stream_open) ogg_stream_clear(&st->stream);
    st->dsp_open = st->info_open = st->stream_open = false;
}

/* The first page of a Vorbis stream: a stream's first page holds exactly
 * its identification header. */
static bool page_begins_vorbis(const ogg_page *page) {
    return ogg_page_bos(page) && page->body_len >= 7 && memcmp(page->body, "\x01vorbis", 7) == 0;
}

static int begin_link(vorbis_state *st, ogg_page *page, r1_error *err) {
    close_link(st);
    if (++st->links > VORBIS_MAX_LINKS)
        return r1_error_set(err, "%s: more than %d chained Vorbis streams", st->name, VORBIS_MAX_LINKS);
    if (ogg_stream_init(&st->stream, ogg_page_serialno(page)) != 0)
        return r1_error_set(err, "%s: out of memory", st->name);
    st->stream_open = true;
    vorbis_info_init(&st->info);
    vorbis_comment_init(&st->comment);
    st->info_open = true;
    st->headers = 0;
    st->link_ended = st->link_has_audio = false;
    ogg_stream_pagein(&st->stream, page);
    if (ogg_page_eos(page)) st->link_ended = true;
    return 0;
}

/* A page: the start of the next link, one of the current link's, or
 * another stream's (skipped). A Vorbis stream that begins after the
 * current one's audio has begun is the next link even without the last
 * page's flag (a chain cut and joined carelessly); one that begins before
 * it is a parallel stream (every stream of a multiplexed file begins
 * before any stream's data, so those are never taken for links). */
static int take_page(vorbis_state *st, ogg_page *page, r1_error *err) {
    bool current_done = !st->stream_open || st->link_ended || st->link_has_audio;
    if (page_begins_vorbis(page) && current_done) return begin_link(st, page, err);
    if (!st->stream_open || st->link_ended || ogg_page_serialno(page) != st->stream.serialno) return 0;
    ogg_stream_pagein(&st->stream, page);
    if (ogg_page_eos(page)) st->link_ended = true;
    return 0;
}

/* ---- packets ---- */

/* Up to INPUT_CHUNK more bytes of the input into libogg: the count, 0 at
 * the end, -1 on a read error. */
static long read_input(vorbis_state *st, r1_error *err) {
    char *into = ogg_sync_buffer(&st->sync, INPUT_CHUNK);
    if (!into) return r1_error_set(err, "%s: out of memory", st->name);
    size_t n;
    if (st->file) {
        n = fread(into, 1, INPUT_CHUNK, st->file);
        if (n == 0 && ferror(st->file)) return r1_error_set(err, "%s: %s", st->name, strerror(errno));
    } else {
        n = st->size - st->pos < INPUT_CHUNK ? st->size - st->pos : INPUT_CHUNK;
        memcpy(into, st->data + st->pos, n);
        st->pos += n;
    }
    ogg_sync_wrote(&st->sync, (long)n);
    return (long)n;
}

/* The current link's next packet: 1, 0 at the end of the input, -1 with
 * err set. A gap in a stream (a lost page) is stepped over. */
static int next_packet(vorbis_state *st, ogg_packet *packet, r1_error *err) {
    for (;;) {
        if (st->stream_open) {
            int got = ogg_stream_packetout(&st->stream, packet);
            if (got > 0) return 1;
            if (got < 0) continue; /* one gap marker used up */
        }
        ogg_page page;
        long got = ogg_sync_pageseek(&st->sync, &page);
        if (got > 0 && take_page(st, &page, err) != 0) return -1;
        if (got < 0 && (st->bytes_outside_pages += (uint64_t)-got) > MAX_BYTES_OUTSIDE_PAGES) {
            if (st->frames_read > 0) return 0;
            return r1_error_set(err, "%s: more than %d KB of the Ogg data lie outside any page", st->name,
                                MAX_BYTES_OUTSIDE_PAGES / 1024);
        }
        if (got != 0) continue; /* a page taken, or bytes skipped to the next one */
        long n = read_input(st, err);
        if (n <= 0) return (int)n;
    }
}

static const char *header_name(int index) {
    return index == 0 ? "identification" : index == 1 ? "comment" : "setup";
}

/* One of a link's three header packets; after the setup header, the
 * decoder is ready. */
static int take_header(vorbis_state *st, ogg_packet *packet, r1_error *err) {
    if (st->headers == 1) {
        long comments = vorbis_comment_header_count(packet->packet, packet->bytes);
        if (comments > VORBIS_MAX_COMMENTS)
            return r1_error_set(err, "%s: a Vorbis comment header of %ld comments (the limit is %d)", st->name, comments,
                                VORBIS_MAX_COMMENTS);
    }
    if (st->headers == 2) { /* the setup header: its codebooks counted before libvorbis allocates for them */
        vorbis_setup_cost cost = vorbis_setup_header_cost(packet->packet, packet->bytes);
        if (cost.largest_book > VORBIS_BOOK_MAX_ENTRIES)
            return r1_error_set(err, "%s: a Vorbis codebook of %ld entries (the limit is %d)", st->name,
                                cost.largest_book, VORBIS_BOOK_MAX_ENTRIES);
        if (cost.bytes > VORBIS_LINK_MAX_BYTES)
            return r1_error_set(err, "%s: a Vorbis stream's setup would take %.0f MB to decode (the limit is %.0f MB)",
                                st->name, cost.bytes / 1048576.0, VORBIS_LINK_MAX_BYTES / 1048576.0);
        st->setup_bytes += cost.bytes;
        if (st->setup_bytes > VORBIS_INPUT_MAX_BYTES)
            return r1_error_set(err, "%s: its chained Vorbis streams' setups would take more than %.0f MB to decode",
                                st->name, VORBIS_INPUT_MAX_BYTES / 1048576.0);
    }
    if (vorbis_synthesis_headerin(&st->info, &st->comment, packet) != 0)
        return r1_error_set(err, "%s: invalid Vorbis %s header", st->name, header_name(st->headers));
    if (++st->headers == 1) {
        if (st->info.channels < 1 || st->info.channels > AUDIO_MAX_CHANNELS)
            return r1_error_set(err, "%s: a Vorbis stream of %d channels (1 to %d are accepted)", st->name,
                                st->info.channels, AUDIO_MAX_CHANNELS);
        if (st->rate == 0) st->rate = st->info.rate > INT32_MAX ? INT32_MAX : (int)st->info.rate; /* the first link's */
        else if (st->info.rate != st->rate)
            return r1_error_set(err, "%s: the Ogg stream changes its sample rate from %d to %ld Hz after %ld frames",
                                st->name, st->rate, st->info.rate, st->frames_read);
    }
    if (st->headers < 3) return 0;
    if (vorbis_synthesis_init(&st->dsp, &st->info) != 0)
        return r1_error_set(err, "%s: the Vorbis headers describe no decoder libvorbis can build", st->name);
    vorbis_block_init(&st->dsp, &st->block);
    st->dsp_open = true;
    return 0;
}

/* ---- the audio_source ---- */

static long vorbis_read_mono(audio_source *s, float *mono, long max_frames, r1_error *err) {
    vorbis_state *st = s->state;
    for (;;) {
        float **planes;
        int ready = st->dsp_open ? vorbis_synthesis_pcmout(&st->dsp, &planes) : 0;
        if (ready > 0) {
            long n = ready < max_frames ? ready : max_frames;
            audio_mix_planar(planes, n, st->info.channels, mono);
            vorbis_synthesis_read(&st->dsp, (int)n);
            st->frames_read += n;
            return n;
        }
        ogg_packet packet;
        int got = next_packet(st, &packet, err);
        if (got <= 0) return got; /* the end (a chain cut inside its next link's headers ends there too) */
        if (st->headers < 3) {
            if (take_header(st, &packet, err) != 0) return -1;
        } else if (vorbis_synthesis(&st->block, &packet) == 0) {
            vorbis_synthesis_blockin(&st->dsp, &st->block);
            st->link_has_audio = true;
        } /* else a damaged audio packet: skipped, as players do */
    }
}

static void vorbis_close(audio_source *s) {
    vorbis_state *st = s->state;
    if (!st) return;
    close_link(st);
    ogg_sync_clear(&st->sync);
    if (st->file) fclose(st->file);
    free(st);
    s->state = NULL;
}

int audio_vorbis_open(const audio_input *in, audio_source *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    vorbis_state *st = calloc(1, sizeof *st);
    if (!st) return r1_error_set(err, "%s: out of memory", in->name);
    *out = (audio_source){.read_mono = vorbis_read_mono, .close = vorbis_close, .state = st};
    st->name = in->name;
    ogg_sync_init(&st->sync);
    if (in->path && (!(st->file = fopen(in->path, "rb")) || fseeko(st->file, (off_t)in->skip, SEEK_SET) != 0)) {
        r1_error_set(err, "%s: %s", in->name, strerror(errno));
        vorbis_close(out);
        return -1;
    }
    st->data = in->data;
    st->size = in->size;
    st->pos = in->skip < in->size ? (size_t)in->skip : in->size; /* past the ID3 tags */
    /* the first link's three headers, which give the channels and rate */
    while (st->headers < 3) {
        ogg_packet packet;
        int got = next_packet(st, &packet, err);
        if (got == 0 && st->links == 0) r1_error_set(err, "%s: no Vorbis stream in the Ogg data", in->name);
        if (got == 0 && st->links > 0) r1_error_set(err, "%s: the input ends inside its Vorbis headers", in->name);
        if (got <= 0 || take_header(st, &packet, err) != 0) {
            vorbis_close(out);
            return -1;
        }
    }
    out->channels = st->info.channels;
    out->rate = st->rate;
    out->frames = AUDIO_FRAMES_UNKNOWN; /* read once, front to back: see the top */
    return 0;
}

/* ---- which inputs come here ---- */

/*
 * libsndfile takes an input for Ogg when it starts with "OggS" (past any
 * ID3 tags, which audio_file.c cuts off when Ogg lies behind them), then picks a
 * codec by the start of the first page libogg finds in its first few
 * kilobytes. Only its Vorbis reader leaks, but rather than predict exactly
 * which inputs it would hand to that reader (a damaged page, a page that
 * continues a packet: each a chance to guess differently, found by a
 * review), every input starting with "OggS" comes here unless its first
 * page begins a stream of another codec libsndfile reads (Opus, FLAC in
 * either mapping, Speex, PCM). What is not Vorbis is refused here.
 */

static bool page_begins_other_codec(const ogg_page *page) {
    static const struct {
        const char *magic;
        long length;
    } others[] = {{"OpusHead", 8}, {"\x7f" "FLAC", 5}, {"fLaC", 4}, {"Speex", 5}, {"PCM     ", 8}};
    for (size_t i = 0; ogg_page_bos(page) && i < sizeof others / sizeof others[0]; i++)
        if (page->body_len >= others[i].length && memcmp(page->body, others[i].magic, (size_t)others[i].length) == 0)
            return true;
    return false;
}

bool audio_reads_as_vorbis(const audio_input *in) {
    ogg_sync_state sync;
    ogg_page page;
    ogg_sync_init(&sync);
    unsigned char *into = (unsigned char *)ogg_sync_buffer(&sync, SNIFF_BYTES); /* read straight into libogg's */
    size_t n = into ? audio_input_read_at(in, 0, into, SNIFF_BYTES) : 0;
    bool ours = n >= 4 && memcmp(into, "OggS", 4) == 0;
    if (ours) {
        ogg_sync_wrote(&sync, (long)n);
        int got = ogg_sync_pageout(&sync, &page);
        while (got < 0) /* bytes skipped to the first page */
            got = ogg_sync_pageout(&sync, &page);
        if (got > 0 && page_begins_other_codec(&page)) ours = false;
    }
    ogg_sync_clear(&sync);
    return ours;
}
