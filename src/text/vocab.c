/*
 * vocab.c - building a tokenizer from a GGUF file's tokenizer.* keys, and
 * the queries on it.
 *
 * Keys read: tokenizer.ggml.model ("gpt2" or "llama"), .pre, .tokens,
 * .token_type, .scores, .merges, .bos/.eos/.unknown/.eot/.eom_token_id,
 * .add_bos_token, .add_space_prefix, tokenizer.chat_template. Defaults
 * follow llama.cpp's loader, so a file behaves the same in both: a
 * SentencePiece vocabulary has BOS 1, EOS 2, UNK 0 and adds BOS and a
 * leading space unless the file says otherwise; a BPE one adds BOS only
 * for the Llama-3 pre-tokenizer or when add_bos_token says so.
 *
 * Error messages name the key; r1_tokenizer_load puts the file in front.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "text/tokenizer_internal.h"

/* ---- reading keys ---- */

static char *copy_string(const gguf_string *s) {
    char *out = malloc(s->len + 1);
    if (!out) return NULL;
    memcpy(out, s->ptr, s->len);
    out[s->len] = '\0';
    return out;
}

/* An optional string key: *out is a copy, or NULL when absent. */
static int read_optional_string(const gguf_file *f, const char *key, char **out, r1_error *err) {
    *out = NULL;
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return 0;
    if (kv->value.type != GGUF_TYPE_STRING)
        return r1_error_set(err, "%s: has type %s, expected string", key, gguf_type_name(kv->value.type));
    *out = copy_string(&kv->value.as.str);
    return *out ? 0 : r1_error_set(err, "%s: out of memory", key);
}

/* An optional token id: sets *id when the key holds an id inside the
 * vocabulary; anything else (absent, -1, out of range) leaves it as is. */
static void read_optional_id(const gguf_file *f, const char *key, int32_t n_vocab, int32_t *id) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return;
    gguf_value_type ty = kv->value.type;
    bool is_unsigned =
        ty == GGUF_TYPE_UINT8 || ty == GGUF_TYPE_UINT16 || ty == GGUF_TYPE_UINT32 || ty == GGUF_TYPE_UINT64;
    bool is_signed = ty == GGUF_TYPE_INT8 || ty == GGUF_TYPE_INT16 || ty == GGUF_TYPE_INT32 || ty == GGUF_TYPE_INT64;
    if (is_unsigned && kv->value.as.u64 < (uint64_t)n_vocab) *id = (int32_t)kv->value.as.u64;
    else if (is_signed && kv->value.as.i64 >= 0 && kv->value.as.i64 < n_vocab) *id = (int32_t)kv->value.as.i64;
    else r1_log_warn("%s: %s is not a token id of this vocabulary; ignored", f->path, key);
}

static void read_optional_bool(const gguf_file *f, const char *key, bool *value) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (kv && kv->value.type == GGUF_TYPE_BOOL) *value = kv->value.as.b;
}

/* An array key of at least n elements (n = 0: any length). */
static int read_array(const gguf_file *f, const char *key, uint64_t n, const gguf_array **out, r1_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return r1_error_set(err, "%s is missing", key);
    if (kv->value.type != GGUF_TYPE_ARRAY)
        return r1_error_set(err, "%s: has type %s, expected array", key, gguf_type_name(kv->value.type));
    if (kv->value.as.arr.count < n)
        return r1_error_set(err, "%s: %llu entries for %llu tokens", key,
                            (unsigned long long)kv->value.as.arr.count, (unsigned long long)n);
    *out = &kv->value.as.arr;
    return 0;
}

/* ---- loading steps ---- */

/* tokenizer.ggml.model and .pre: the kind of tokenizer and its regexes. */
static int load_kind(r1_tokenizer *t, const gguf_file *f, bool *force_bos, r1_error *err) {
    if (read_optional_string(f, "tokenizer.ggml.model", &t->model_name, err) != 0) return -1;
    if (!t->model_name) return r1_error_set(err, "tokenizer.ggml.model is missing: the file has no vocabulary");
    if (read_optional_string(f, "tokenizer.ggml.pre", &t->pre_name, err) != 0) return -1;
    if (strcmp(t->model_name, "llama") == 0) {
        t->kind = TOKENIZER_SPM;
        t->add_space_prefix = true;
        *force_bos = true;
        return 0;
    }
    if (strcmp(t->model_name, "gpt2") != 0)
        return r1_error_set(err, "tokenizer.ggml.model: unsupported tokenizer '%s' (supported: gpt2, llama)",
                            t->model_name);
    t->kind = TOKENIZER_BPE;
    const char *pre = t->pre_name ? t->pre_name : "default";
    if (!t->pre_name) r1_log_warn("%s: tokenizer.ggml.pre is missing; using the 'default' pre-tokenizer", f->path);
    if (pretokenizer_create(pre, &t->pre, &t->normalize_nfc, &t->ignore_merges, force_bos, err) != 0)
        return r1_error_prefix(err, "tokenizer.ggml.pre");
    return 0;
}

static int load_tokens(r1_tokenizer *t, const gguf_file *f, r1_error *err) {
    const gguf_array *tokens;
    if (read_array(f, "tokenizer.ggml.tokens", 0, &tokens, err) != 0) return -1;
    if (tokens->elem_type != GGUF_TYPE_STRING)
        return r1_error_set(err, "tokenizer.ggml.tokens: array of %s, expected strings",
                            gguf_type_name(tokens->elem_type));
    if (tokens->count == 0 || tokens->count > INT32_MAX / 2)
        return r1_error_set(err, "tokenizer.ggml.tokens: %llu tokens", (unsigned long long)tokens->count);
    uint64_t total = 0;
    for (uint64_t i = 0; i < tokens->count; i++) total += tokens->strings[i].len;
    if (total >= UINT32_MAX)
        return r1_error_set(err, "tokenizer.ggml.tokens: %llu bytes of text", (unsigned long long)total);
    t->n_vocab = (int32_t)tokens->count;
    t->texts.n = t->n_vocab;
    t->texts.arena = malloc(total ? total : 1);
    t->texts.off = malloc(((size_t)t->n_vocab + 1) * sizeof *t->texts.off);
    if (!t->texts.arena || !t->texts.off) return r1_error_set(err, "out of memory for %d tokens", t->n_vocab);
    uint32_t used = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        t->texts.off[i] = used;
        memcpy(t->texts.arena + used, tokens->strings[i].ptr, tokens->strings[i].len);
        used += (uint32_t)tokens->strings[i].len;
    }
    t->texts.off[t->n_vocab] = used;
    if (token_map_build(&t->by_text, &t->texts, err) != 0) return r1_error_prefix(err, "tokenizer.ggml.tokens");
    return 0;
}

/* Token types (all NORMAL when the key is absent) and, for SentencePiece,
 * scores (all 0 when absent, as llama.cpp reads them). */
static int load_types_and_scores(r1_tokenizer *t, const gguf_file *f, r1_error *err) {
    t->types = malloc((size_t)t->n_vocab);
    if (!t->types) return r1_error_set(err, "out of memory");
    memset(t->types, R1_TOKEN_NORMAL, (size_t)t->n_vocab);
    const gguf_array *a;
    if (gguf_find_kv(f, "tokenizer.ggml.token_type")) {
        if (read_array(f, "tokenizer.ggml.token_type", (uint64_t)t->n_vocab, &a, err) != 0) return -1;
        for (int32_t i = 0; i < t->n_vocab; i++) {
            int64_t v;
            if (!gguf_array_get_i64(a, (uint64_t)i, &v))
                return r1_error_set(err, "tokenizer.ggml.token_type: array of %s, expected integers",
                                    gguf_type_name(a->elem_type));
            t->types[i] = v >= R1_TOKEN_NORMAL && v <= R1_TOKEN_BYTE ? (uint8_t)v : R1_TOKEN_NORMAL;
        }
    }
    if (t->kind != TOKENIZER_SPM) return 0;
    t->scores = calloc((size_t)t->n_vocab, sizeof *t->scores);
    if (!t->scores) return r1_error_set(err, "out of memory");
    if (!gguf_find_kv(f, "tokenizer.ggml.scores")) return 0;
    if (read_array(f, "tokenizer.ggml.scores", (uint64_t)t->n_vocab, &a, err) != 0) return -1;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        double v;
        if (!gguf_array_get_f64(a, (uint64_t)i, &v))
            return r1_error_set(err, "tokenizer.ggml.scores: array of %s, expected numbers",
                                gguf_type_name(a->elem_type));
        t->scores[i] = (float)v;
    }
    return 0;
}

static int load_merges(r1_tokenizer *t, const gguf_file *f, r1_error *err) {
    const gguf_array *merges;
    if (read_array(f, "tokenizer.ggml.merges", 0, &merges, err) != 0) return -1;
    return bpe_load_merges(t, merges, err);
}

/* The token for each byte value: its byte-level character (BPE), or
 * <0xXX> falling back to the byte itself (SentencePiece). */
static void find_byte_tokens(r1_tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char text[8];
        int len;
        if (t->kind == TOKENIZER_BPE) {
            len = bytelevel_encode_byte((uint8_t)b, text);
        } else {
            len = snprintf(text, sizeof text, "<0x%02X>", b);
        }
        t->byte_token[b] = token_map_find(&t->by_text, &t->texts, text, (size_t)len);
        if (t->byte_token[b] < 0 && t->kind == TOKENIZER_SPM) {
            char one = (char)b;
            t->byte_token[b] = token_map_find(&t->by_text, &t->texts, &one, 1);
        }
    }
}

static void add_eog(r1_tokenizer *t, int32_t id) {
    if (id < 0) return;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return;
    if (t->n_eog < (int)(sizeof t->eog / sizeof t->eog[0])) t->eog[t->n_eog++] = id;
}

/* BOS/EOS/UNK, whether BOS and a leading space are added, and the ids
 * that end generation. */
static void load_special_ids(r1_tokenizer *t, const gguf_file *f, bool force_bos) {
    bool spm = t->kind == TOKENIZER_SPM;
    t->bos = spm && t->n_vocab > 1 ? 1 : -1;
    t->eos = spm && t->n_vocab > 2 ? 2 : -1;
    t->unk = spm ? 0 : -1;
    int32_t eot = -1, eom = -1;
    read_optional_id(f, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos);
    read_optional_id(f, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos);
    read_optional_id(f, "tokenizer.ggml.unknown_token_id", t->n_vocab, &t->unk);
    read_optional_id(f, "tokenizer.ggml.eot_token_id", t->n_vocab, &eot);
    read_optional_id(f, "tokenizer.ggml.eom_token_id", t->n_vocab, &eom);
    t->add_bos = force_bos;
    read_optional_bool(f, "tokenizer.ggml.add_bos_token", &t->add_bos);
    if (spm) read_optional_bool(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);

    static const char *const eog_texts[] = {"<｜end▁of▁sentence｜>", "<|im_end|>",      "<|eot_id|>",
                                            "<|eom_id|>",            "<|end_of_text|>", "<|endoftext|>",
                                            "<end_of_turn>"};
    add_eog(t, t->eos);
    add_eog(t, eot);
    add_eog(t, eom);
    for (size_t i = 0; i < sizeof eog_texts / sizeof eog_texts[0]; i++)
        add_eog(t, token_map_find(&t->by_text, &t->texts, eog_texts[i], strlen(eog_texts[i])));
}

static int load_all(r1_tokenizer *t, const gguf_file *f, r1_error *err) {
    bool force_bos = false;
    if (load_kind(t, f, &force_bos, err) != 0) return -1;
    if (load_tokens(t, f, err) != 0) return -1;
    if (load_types_and_scores(t, f, err) != 0) return -1;
    if (t->kind == TOKENIZER_BPE && load_merges(t, f, err) != 0) return -1;
    find_byte_tokens(t);
    load_special_ids(t, f, force_bos);
    if (read_optional_string(f, "tokenizer.chat_template", &t->chat_template, err) != 0) return -1;
    if (special_index_build(t, err) != 0) return -1;
    return pieces_build(t, err);
}

int r1_tokenizer_load(const gguf_file *f, r1_tokenizer **out, r1_error *err) {
    *out = NULL;
    r1_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return r1_error_set(err, "%s: out of memory", f->path);
    if (load_all(t, f, err) != 0) {
        r1_tokenizer_free(t);
        return r1_error_prefix(err, "%s", f->path);
    }
    *out = t;
    return 0;
}

void r1_tokenizer_free(r1_tokenizer *t) {
    if (!t) return;
    free(t->texts.arena);
    free(t->texts.off);
    free(t->pieces.arena);
    free(t->pieces.off);
    free(t->types);
    free(t->scores);
    token_map_free(&t->by_text);
    merge_map_free(&t->merges);
    free(t->special_ids);
    pretokenizer_free(t->pre);
    free(t->model_name);
    free(t->pre_name);
    free(t->chat_template);
    free(t);
}

/* ---- queries ---- */

int32_t r1_tokenizer_n_vocab(const r1_tokenizer *t) { return t->n_vocab; }
int32_t r1_token_bos(const r1_tokenizer *t) { return t->bos; }
int32_t r1_token_eos(const r1_tokenizer *t) { return t->eos; }
bool r1_tokenizer_adds_bos(const r1_tokenizer *t) { return t->add_bos && t->bos >= 0; }
const char *r1_tokenizer_model(const r1_tokenizer *t) { return t->model_name; }
const char *r1_tokenizer_pre(const r1_tokenizer *t) { return t->pre_name ? t->pre_name : ""; }
const char *r1_tokenizer_chat_template(const r1_tokenizer *t) { return t->chat_template; }

bool r1_token_is_eog(const r1_tokenizer *t, int32_t id) {
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    return false;
}

r1_token_type r1_token_get_type(const r1_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return R1_TOKEN_UNDEFINED;
    return (r1_token_type)t->types[id];
}
