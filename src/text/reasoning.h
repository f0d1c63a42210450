/*
 * reasoning.h - separating R1's reasoning from its answer while streaming.
 *
 * DeepSeek-R1 thinks inside <think> ... </think> and then answers. The
 * generated text arrives a token at a time, and a tag may be split over
 * several tokens ("</", "think", ">"), so the parser holds back any tail
 * that could still become a tag and emits everything else at once, to the
 * reasoning or the content callback. The opening tag is often part of the
 * prompt (R1's template ends with "<｜Assistant｜><think>\n"): the parser
 * then starts inside the reasoning. The newlines that follow the closing
 * tag are dropped from the content, as DeepSeek's own API returns it.
 */
#ifndef R1_TEXT_REASONING_H
#define R1_TEXT_REASONING_H

#include <stdbool.h>
#include <stddef.h>

typedef void (*r1_text_sink)(void *user, const char *text, size_t len);

typedef struct r1_reasoning_parser {
    bool in_reasoning;
    bool after_close;      /* just left the reasoning: skip leading newlines */
    char held[16];         /* a possible partial tag */
    size_t n_held;
    r1_text_sink on_reasoning;
    r1_text_sink on_content;
    void *user;
} r1_reasoning_parser;

void r1_reasoning_init(r1_reasoning_parser *p, bool starts_in_reasoning, r1_text_sink on_reasoning,
                       r1_text_sink on_content, void *user);
void r1_reasoning_feed(r1_reasoning_parser *p, const char *text, size_t len);
/* End of generation: emits whatever is held back. */
void r1_reasoning_finish(r1_reasoning_parser *p);

#endif
