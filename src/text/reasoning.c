/* reasoning.c - the streaming <think> splitter (see reasoning.h). */
#include "text/reasoning.h"

#include <string.h>

static const char open_tag[] = "<think>";
static const char close_tag[] = "</think>";

void r1_reasoning_init(r1_reasoning_parser *p, bool starts_in_reasoning, r1_text_sink on_reasoning,
                       r1_text_sink on_content, void *user) {
    memset(p, 0, sizeof *p);
    p->in_reasoning = starts_in_reasoning;
    p->on_reasoning = on_reasoning;
    p->on_content = on_content;
    p->user = user;
}

static void emit(r1_reasoning_parser *p, const char *text, size_t len) {
    if (p->in_reasoning) {
        if (len) p->on_reasoning(p->user, text, len);
        return;
    }
    if (p->after_close) {
        while (len && (*text == '\n' || *text == '\r')) text++, len--;
        if (len) p->after_close = false;
    }
    if (len) p->on_content(p->user, text, len);
}

/* Length of the longest tail of text that is a proper prefix of tag. */
static size_t partial_tag_tail(const char *text, size_t len, const char *tag) {
    size_t tag_len = strlen(tag);
    for (size_t k = tag_len - 1; k > 0; k--)
        if (k <= len && memcmp(text + len - k, tag, k) == 0) return k;
    return 0;
}

/* Scans one run of text (held bytes first), switching state at each tag. */
static void scan(r1_reasoning_parser *p, const char *text, size_t len) {
    while (len) {
        const char *tag = p->in_reasoning ? close_tag : open_tag;
        size_t tag_len = strlen(tag);
        const char *hit = NULL;
        for (size_t i = 0; i + tag_len <= len && !hit; i++)
            if (memcmp(text + i, tag, tag_len) == 0) hit = text + i;
        if (hit) {
            emit(p, text, (size_t)(hit - text));
            p->in_reasoning = !p->in_reasoning;
            p->after_close = !p->in_reasoning;
            len -= (size_t)(hit - text) + tag_len;
            text = hit + tag_len;
            continue;
        }
        size_t keep = partial_tag_tail(text, len, tag);
        emit(p, text, len - keep);
        memcpy(p->held, text + len - keep, keep);
        p->n_held = keep;
        return;
    }
}

void r1_reasoning_feed(r1_reasoning_parser *p, const char *text, size_t len) {
    /* Joins the held tail with the new text; a tag is at most 8 bytes, so a
     * small stack buffer handles the join and the rest is scanned in place. */
    char joined[32];
    while (p->n_held && len) {
        size_t take = len < sizeof joined - p->n_held ? len : sizeof joined - p->n_held;
        memcpy(joined, p->held, p->n_held);
        memcpy(joined + p->n_held, text, take);
        size_t n = p->n_held + take;
        p->n_held = 0;
        text += take;
        len -= take;
        scan(p, joined, n);
    }
    if (len) scan(p, text, len);
}

void r1_reasoning_finish(r1_reasoning_parser *p) {
    size_t n = p->n_held;
    p->n_held = 0;
    emit(p, p->held, n);
}
