/*
 * audio_vorbis.c - the Ogg Vorbis decoder of audio_source.h, through
 * libvorbisfile, and the test that routes Ogg inputs here.
 *
 * libsndfile reads Ogg Vorbis too, but when it refuses a stream's headers
 * it returns without freeing the codec setup it had begun (vorbis_info_init
 * with no vorbis_info_clear): ~5.8 KB lost per malformed upload, forever,
 * in a server that runs for months. libvorbisfile frees everything on each
 * failure (ov_clear), so Vorbis never reaches libsndfile.
 *
 * A chained stream (several Vorbis streams one after another) is read
 * through as one: its channel count may change between links (each chunk
 * is averaged with its own), its sample rate may not.
 */
#include <errno.h>
#include <ogg/ogg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* vorbisfile.h otherwise defines static callback tables this file does not
 * use, which -Wunused-variable refuses */
#define OV_EXCLUDE_STATIC_CALLBACKS
#include <vorbis/vorbisfile.h>

#include "audio/audio_file.h"
#include "audio/audio_source.h"
#include "audio/vorbis_limits.h"

/* How far into an input audio_reads_with_vorbisfile looks for the first packet. */
#define SNIFF_BYTES 65536

/* ---- the bytes libvorbisfile reads: memory or a FILE ---- */

typedef struct byte_source {
    FILE *file;                /* when reading a path */
    const unsigned char *data; /* when reading memory */
    size_t size, pos;
} byte_source;

static size_t source_read(void *ptr, size_t size, size_t nmemb, void *user) {
    byte_source *b = user;
    if (b->file) return fread(ptr, size, nmemb, b->file);
    if (size == 0 || b->pos >= b->size) return 0;
    size_t items = (b->size - b->pos) / size;
    if (items > nmemb) items = nmemb;
    memcpy(ptr, b->data + b->pos, items * size);
    b->pos += items * size;
    return items;
}

static long source_tell(void *user) {
    byte_source *b = user;
    return b->file ? (long)ftello(b->file) : (long)b->pos;
}

/* ---- the open stream ---- */

typedef struct vorbis_state {
    OggVorbis_File vf;
    byte_source bytes;
    const char *name;
    long frames_read;
} vorbis_state;

/* libvorbisfile's error codes in words. */
static const char *vorbis_error_text(long code) {
    switch (code) {
    case OV_EREAD: return "a read from the input failed";
    case OV_EFAULT: return "internal fault in libvorbisfile";
    case OV_EIMPL: return "a feature this decoder does not implement";
    case OV_EINVAL: return "invalid argument or state";
    case OV_ENOTVORBIS: return "not Vorbis data";
    case OV_EBADHEADER: return "invalid Vorbis header";
    case OV_EVERSION: return "unsupported Vorbis version";
    case OV_ENOTAUDIO: return "not audio data";
    case OV_EBADPACKET: return "invalid packet";
    case OV_EBADLINK: return "invalid stream section, or the data is damaged";
    case OV_ENOSEEK: return "the input is not seekable";
    default: return "unknown libvorbisfile error";
    }
}

static long vorbis_read_mono(audio_source *s, float *mono, long max_frames, r1_error *err) {
    vorbis_state *st = s->state;
    int want = max_frames < 4096 ? (int)max_frames : 4096;
    for (;;) {
        float **planes;
        int link;
        long got = ov_read_float(&st->vf, &planes, want, &link);
        /* a hole is a gap in the data (a lost or damaged page): the
         * decoder has moved past it, and the audio goes on after it */
        if (got == OV_HOLE) continue;
        if (got < 0)
            return r1_error_set(err, "%s: Ogg Vorbis decoding failed after %ld frames: %s", st->name,
                                st->frames_read, vorbis_error_text(got));
        if (got == 0) return 0;
        const vorbis_info *info = ov_info(&st->vf, link);
        if (!info || info->channels < 1 || info->channels > AUDIO_MAX_CHANNELS)
            return r1_error_set(err, "%s: a link of the Ogg stream has %d channels (1 to %d are accepted)", st->name,
                                info ? info->channels : 0, AUDIO_MAX_CHANNELS);
        if (info->rate != s->rate)
            return r1_error_set(err, "%s: the Ogg stream changes its sample rate from %d to %ld Hz after %ld frames",
                                st->name, s->rate, info->rate, st->frames_read);
        audio_mix_planar(planes, got, info->channels, mono);
        st->frames_read += got;
        return got;
    }
}

static void vorbis_close(audio_source *s) {
    vorbis_state *st = s->state;
    if (!st) return;
    ov_clear(&st->vf); /* closes st->bytes.file through close_func */
    free(st);
    s->state = NULL;
}

static int close_file(void *user) {
    byte_source *b = user;
    int rc = b->file ? fclose(b->file) : 0;
    b->file = NULL;
    return rc;
}

int audio_vorbis_open(const audio_input *in, audio_source *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    if (vorbis_check_limits(in, err) != 0) return -1; /* before libvorbis allocates for the codebooks */
    vorbis_state *st = calloc(1, sizeof *st);
    if (!st) return r1_error_set(err, "%s: out of memory", in->name);
    st->name = in->name;
    if (in->path) {
        st->bytes.file = fopen(in->path, "rb");
        if (!st->bytes.file) {
            r1_error_set(err, "%s: %s", in->name, strerror(errno));
            free(st);
            return -1;
        }
    } else {
        st->bytes.data = in->data;
        st->bytes.size = in->size;
    }
    /* no seek function: libvorbisfile then reads the input as a stream,
     * front to back. Given one, it bisects a chained file for its links
     * at open, and on some damaged chains that search returns without
     * freeing what it had read (libvorbisfile 1.3.7, _bisect_forward_serialno;
     * found by fuzz_audio). The cost: the length is unknown until the end,
     * so the pipeline's duration limit counts frames as they come. */
    ov_callbacks callbacks = {source_read, NULL, close_file, source_tell};
    int rc = ov_open_callbacks(&st->bytes, &st->vf, NULL, 0, callbacks);
    if (rc != 0) {
        /* on failure libvorbisfile has freed its state but left the input
         * to us */
        close_file(&st->bytes);
        free(st);
        return r1_error_set(err, "%s: cannot read Ogg Vorbis: %s", in->name, vorbis_error_text(rc));
    }
    const vorbis_info *info = ov_info(&st->vf, 0);
    *out = (audio_source){.channels = info ? info->channels : 0,
                          .rate = info && info->rate <= INT32_MAX ? (int)info->rate : 0,
                          .frames = AUDIO_FRAMES_UNKNOWN, /* read as a stream: see above */
                          .read_mono = vorbis_read_mono,
                          .close = vorbis_close,
                          .state = st};
    return 0;
}

/* ---- which inputs are Ogg Vorbis ---- */

/* The first SNIFF_BYTES of in, in buf (for memory, a pointer into it). */
static size_t first_bytes(const audio_input *in, unsigned char *buf, const unsigned char **bytes) {
    if (!in->path) {
        *bytes = in->data;
        return in->size < SNIFF_BYTES ? in->size : SNIFF_BYTES;
    }
    *bytes = buf;
    FILE *f = fopen(in->path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, SNIFF_BYTES, f);
    fclose(f);
    return n;
}

/*
 * Which Ogg inputs come here. libsndfile takes an input for Ogg when it
 * starts with "OggS", then picks a codec by the first packet of the first
 * page it can read. Only its Vorbis reader leaks, but rather than predict
 * exactly which inputs it would hand to that reader (a damaged first page,
 * a page number out of order, a packet split over pages: each a chance to
 * guess differently and leak), every Ogg input comes here unless its first
 * packet clearly belongs to another codec libsndfile reads: Opus, FLAC,
 * Speex or PCM. libvorbisfile refuses what is not Vorbis, cleanly.
 */
static bool first_packet_is_other_codec(const unsigned char *bytes, size_t n) {
    static const struct {
        const char *magic;
        long length;
    } others[] = {{"OpusHead", 8}, {"\x7f" "FLAC", 5}, {"Speex   ", 8}, {"PCM     ", 8}};
    ogg_sync_state sync;
    ogg_stream_state stream;
    ogg_page page;
    ogg_packet packet;
    bool other = false, stream_open = false;
    ogg_sync_init(&sync);
    char *into = ogg_sync_buffer(&sync, (long)n);
    if (!into) {
        ogg_sync_clear(&sync);
        return false;
    }
    memcpy(into, bytes, n);
    ogg_sync_wrote(&sync, (long)n);
    for (int got; (got = ogg_sync_pageout(&sync, &page)) != 0;) {
        if (got < 0) continue; /* bytes skipped to the next page */
        if (!stream_open) {
            ogg_stream_init(&stream, ogg_page_serialno(&page));
            stream_open = true;
        }
        if (ogg_stream_pagein(&stream, &page) != 0) continue; /* another stream's page */
        int out = ogg_stream_packetout(&stream, &packet);
        while (out < 0) /* a gap before the packet (a page number out of order) */
            out = ogg_stream_packetout(&stream, &packet);
        if (out == 0) continue; /* the first packet goes on in the next page */
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
            if (packet.bytes >= others[i].length && memcmp(packet.packet, others[i].magic, (size_t)others[i].length) == 0)
                other = true;
        break;
    }
    if (stream_open) ogg_stream_clear(&stream);
    ogg_sync_clear(&sync);
    return other;
}

bool audio_reads_with_vorbisfile(const audio_input *in) {
    unsigned char *buf = in->path ? malloc(SNIFF_BYTES) : NULL;
    if (in->path && !buf) return false;
    const unsigned char *bytes;
    size_t n = first_bytes(in, buf, &bytes);
    bool vorbisfile = n >= 4 && memcmp(bytes, "OggS", 4) == 0 && !first_packet_is_other_codec(bytes, n);
    free(buf);
    return vorbisfile;
}
