/*
 * chat_template.h - turning a conversation into the prompt text a model
 * was trained on.
 *
 * r1 does not run Jinja: it recognises the templates of the models it
 * serves and renders them in C, character for character as the reference
 * (Python jinja2 with transformers' settings) does:
 *   deepseek-r1  <｜begin▁of▁sentence｜>{system}<｜User｜>..<｜Assistant｜>..<｜end▁of▁sentence｜>,
 *                earlier assistant turns without their <think> part, the
 *                generation prompt ending in "<｜Assistant｜><think>\n"
 *   chatml       <|im_start|>{role}\n{content}<|im_end|>\n (Qwen2)
 *   llama3       <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>
 */
#ifndef R1_TEXT_CHAT_TEMPLATE_H
#define R1_TEXT_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

typedef enum r1_chat_template {
    R1_CHAT_DEEPSEEK_R1 = 0,
    R1_CHAT_CHATML = 1,
    R1_CHAT_LLAMA3 = 2,
} r1_chat_template;

typedef struct r1_chat_message {
    const char *role;    /* "system", "user", "assistant", "tool" */
    const char *content;
} r1_chat_message;

/* The template called `name` ("deepseek-r1", "chatml", "llama3"). */
int r1_chat_template_by_name(const char *name, r1_chat_template *out, r1_error *err);
const char *r1_chat_template_name(r1_chat_template t);

/* Recognises the template of a model: from its tokenizer.chat_template text
 * when it has one (an unrecognised text is an error naming it), else from
 * the vocabulary's pre-tokenizer (deepseek-v3, deepseek-r1-qwen ->
 * deepseek-r1; llama-bpe -> llama3; anything else -> chatml). *why gets a
 * short explanation for the log. */
int r1_chat_template_detect(const char *jinja, const char *pre, r1_chat_template *out, const char **why,
                            r1_error *err);

/* Renders the conversation. bos is the vocabulary's BOS text (may be "").
 * Returns a malloc'ed string, or NULL with err set (unknown role, out of
 * memory). */
char *r1_chat_render(r1_chat_template t, const r1_chat_message *messages, size_t n, bool add_generation_prompt,
                     const char *bos, r1_error *err);

#endif
