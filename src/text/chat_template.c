/* chat_template.c - rendering conversations (see chat_template.h). */
#include "text/chat_template.h"

#include "base/text_buffer.h"

#include <stdlib.h>
#include <string.h>

/* ---- a growing string ---- */

static void append(text_buffer *b, const char *s, size_t n) { text_buffer_append(b, s, n); }
static void append_str(text_buffer *b, const char *s) { text_buffer_append_str(b, s); }

/* ---- names and detection ---- */

static const char *const template_names[] = {"deepseek-r1", "chatml", "llama3"};

const char *r1_chat_template_name(r1_chat_template t) { return template_names[t]; }

int r1_chat_template_by_name(const char *name, r1_chat_template *out, r1_error *err) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, template_names[i]) == 0) {
            *out = (r1_chat_template)i;
            return 0;
        }
    return r1_error_set(err, "unknown chat template '%s' (known: deepseek-r1, chatml, llama3)", name);
}

int r1_chat_template_detect(const char *jinja, const char *pre, r1_chat_template *out, const char **why,
                            r1_error *err) {
    if (jinja && *jinja) {
        *why = "recognised from tokenizer.chat_template";
        if (strstr(jinja, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>")) *out = R1_CHAT_DEEPSEEK_R1;
        else if (strstr(jinja, "<|im_start|>")) *out = R1_CHAT_CHATML;
        else if (strstr(jinja, "<|start_header_id|>")) *out = R1_CHAT_LLAMA3;
        else
            return r1_error_set(err, "the model's tokenizer.chat_template is not one r1 knows (%.60s...); "
                                "choose one with --chat-template deepseek-r1|chatml|llama3", jinja);
        return 0;
    }
    if (pre && (strcmp(pre, "deepseek-v3") == 0 || strcmp(pre, "deepseek-r1-qwen") == 0)) {
        *out = R1_CHAT_DEEPSEEK_R1;
        *why = "no tokenizer.chat_template; the DeepSeek vocabulary implies deepseek-r1";
    } else if (pre && strcmp(pre, "llama-bpe") == 0) {
        *out = R1_CHAT_LLAMA3;
        *why = "no tokenizer.chat_template; the Llama-3 vocabulary implies llama3";
    } else {
        *out = R1_CHAT_CHATML;
        *why = "no tokenizer.chat_template and no known vocabulary: chatml";
    }
    return 0;
}

/* ---- deepseek-r1 ---- */

#define DS_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define DS_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"
#define DS_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define DS_TOOL_OUTPUTS_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81outputs\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_TOOL_OUTPUTS_END "<\xef\xbd\x9ctool\xe2\x96\x81outputs\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_TOOL_OUTPUT_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81output\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_TOOL_OUTPUT_END "<\xef\xbd\x9ctool\xe2\x96\x81output\xe2\x96\x81" "end\xef\xbd\x9c>"

/* An assistant turn as it goes back into the history: only what follows
 * the last </think> (DeepSeek drops earlier reasoning). */
static const char *without_reasoning(const char *content) {
    const char *after = content, *p = content;
    while ((p = strstr(p, "</think>")) != NULL) after = p += strlen("</think>");
    return after;
}

static void render_deepseek_r1(text_buffer *b, const r1_chat_message *m, size_t n, bool generation, const char *bos) {
    const char *system = "";
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].role, "system") == 0) system = m[i].content; /* the last one wins, as in the template */
    append_str(b, bos);
    append_str(b, system);
    bool in_tool_outputs = false, first_output = true;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].role, "user") == 0) {
            in_tool_outputs = false;
            append_str(b, DS_USER);
            append_str(b, m[i].content);
        } else if (strcmp(m[i].role, "assistant") == 0) {
            if (in_tool_outputs) {
                append_str(b, DS_TOOL_OUTPUTS_END);
                append_str(b, m[i].content);
                in_tool_outputs = false;
            } else {
                append_str(b, DS_ASSISTANT);
                append_str(b, without_reasoning(m[i].content));
            }
            append_str(b, DS_EOS);
        } else if (strcmp(m[i].role, "tool") == 0) {
            in_tool_outputs = true;
            append_str(b, first_output ? DS_TOOL_OUTPUTS_BEGIN DS_TOOL_OUTPUT_BEGIN : "\n" DS_TOOL_OUTPUT_BEGIN);
            append_str(b, m[i].content);
            append_str(b, DS_TOOL_OUTPUT_END);
            first_output = false;
        }
    }
    if (in_tool_outputs) append_str(b, DS_TOOL_OUTPUTS_END);
    if (generation && !in_tool_outputs) append_str(b, DS_ASSISTANT "<think>\n");
}

/* ---- chatml and llama3 ---- */

static void render_chatml(text_buffer *b, const r1_chat_message *m, size_t n, bool generation) {
    for (size_t i = 0; i < n; i++) {
        append_str(b, "<|im_start|>");
        append_str(b, m[i].role);
        append_str(b, "\n");
        append_str(b, m[i].content);
        append_str(b, "<|im_end|>\n");
    }
    if (generation) append_str(b, "<|im_start|>assistant\n");
}

static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* Llama 3's template trims each message. */
static void append_trimmed(text_buffer *b, const char *s) {
    size_t len = strlen(s), start = 0;
    while (start < len && is_space(s[start])) start++;
    while (len > start && is_space(s[len - 1])) len--;
    append(b, s + start, len - start);
}

static void render_llama3(text_buffer *b, const r1_chat_message *m, size_t n, bool generation, const char *bos) {
    append_str(b, bos);
    for (size_t i = 0; i < n; i++) {
        append_str(b, "<|start_header_id|>");
        append_str(b, m[i].role);
        append_str(b, "<|end_header_id|>\n\n");
        append_trimmed(b, m[i].content);
        append_str(b, "<|eot_id|>");
    }
    if (generation) append_str(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

char *r1_chat_render(r1_chat_template t, const r1_chat_message *messages, size_t n, bool add_generation_prompt,
                     const char *bos, r1_error *err) {
    for (size_t i = 0; i < n; i++) {
        const char *r = messages[i].role;
        if (!r || !messages[i].content ||
            (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "tool"))) {
            r1_error_set(err, "message %zu: role '%s' is not system, user, assistant or tool", i, r ? r : "(none)");
            return NULL;
        }
    }
    text_buffer b = {0};
    append(&b, "", 0);
    if (t == R1_CHAT_DEEPSEEK_R1) render_deepseek_r1(&b, messages, n, add_generation_prompt, bos ? bos : "");
    else if (t == R1_CHAT_CHATML) render_chatml(&b, messages, n, add_generation_prompt);
    else render_llama3(&b, messages, n, add_generation_prompt, bos ? bos : "");
    if (b.failed) {
        free(b.data);
        r1_error_set(err, "out of memory rendering the chat template");
        return NULL;
    }
    return b.data;
}
