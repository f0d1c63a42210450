/*
 * tokenizer_internal.h - the tokenizer's data and the functions its files
 * share. Not for use outside them: the API is tokenizer.h.
 *
 *   vocab.c        loading from GGUF, freeing, the queries
 *   token_map.c    hash tables: token text -> id, merge pair -> rank
 *   special.c      finding added tokens (<think>, <｜User｜>, ...) in text
 *   pretokenize.c  the split regexes of each `tokenizer.ggml.pre` (PCRE2)
 *   normalize.c    NFC (utf8proc) for vocabularies that normalize
 *   bytelevel.c    the GPT-2 byte <-> character mapping
 *   pair_heap.c    the min-heap of candidate merges (BPE and SentencePiece)
 *   bpe.c          merges: loading, and applying them to one word
 *   spm.c          SentencePiece tokenization of one text fragment
 *   tokenize.c     r1_tokenize: the pipeline over a whole text
 *   detokenize.c   pieces, r1_detokenize and the streaming detokenizer
 *   utf8.c         UTF-8 character lengths
 */
#ifndef R1_TEXT_TOKENIZER_INTERNAL_H
#define R1_TEXT_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text/tokenizer.h"

/* Token texts, one arena: text of id i is arena[off[i] .. off[i+1]). */
typedef struct token_texts {
    char *arena;
    uint32_t *off; /* n + 1 entries */
    int32_t n;
} token_texts;

/* Open-addressing hash table from token text to id. */
typedef struct token_map {
    int32_t *slots; /* id, or -1 for an empty slot */
    uint64_t mask;  /* capacity - 1 (a power of two) */
} token_map;

/* Open-addressing hash table from (left id, right id) to the merge. */
typedef struct merge_slot {
    uint64_t key;   /* left << 32 | right; MERGE_EMPTY for an empty slot */
    int32_t rank;   /* position in tokenizer.ggml.merges: lower merges first */
    int32_t merged; /* id of left + right */
} merge_slot;

#define MERGE_EMPTY UINT64_MAX

typedef struct merge_map {
    merge_slot *slots;
    uint64_t mask;
} merge_map;

typedef enum tokenizer_kind { TOKENIZER_BPE, TOKENIZER_SPM } tokenizer_kind;

typedef struct pretokenizer pretokenizer; /* pretokenize.c */

struct r1_tokenizer {
    tokenizer_kind kind;
    int32_t n_vocab;
    token_texts texts;
    uint8_t *types;    /* r1_token_type per id */
    float *scores;     /* SentencePiece scores (NULL for BPE) */
    token_map by_text;
    merge_map merges;  /* BPE only */

    token_texts pieces; /* decoded bytes per id (detokenize.c) */
    size_t max_piece_len;

    /* Byte b as a token: the byte-level character of b (BPE) or <0xXX>
     * (SentencePiece); -1 when the vocabulary lacks it. */
    int32_t byte_token[256];

    /* Added tokens sorted by text (bytewise), for special.c. */
    int32_t *special_ids;
    int32_t n_special;
    bool special_first_byte[256];

    pretokenizer *pre;   /* BPE only */
    bool normalize_nfc;  /* Qwen vocabularies */
    bool ignore_merges;  /* Llama-3: a piece that is a token is taken whole */
    bool add_bos;
    bool add_space_prefix; /* SentencePiece */

    int32_t bos, eos, unk;
    int32_t eog[16];
    int n_eog;

    char *model_name;
    char *pre_name;
    char *chat_template;
};

/* ---- token_map.c ---- */
uint64_t hash_bytes(const void *data, size_t len);
int token_map_build(token_map *m, const token_texts *texts, r1_error *err);
int32_t token_map_find(const token_map *m, const token_texts *texts, const char *s, size_t len);
void token_map_free(token_map *m);
int merge_map_init(merge_map *m, size_t n_merges, r1_error *err);
/* Adds a merge unless the pair is already there (the first rank wins). */
void merge_map_add(merge_map *m, int32_t left, int32_t right, int32_t rank, int32_t merged);
const merge_slot *merge_map_find(const merge_map *m, int32_t left, int32_t right);
void merge_map_free(merge_map *m);

/* ---- vocab helpers ---- */
static inline const char *token_texts_get(const token_texts *t, int32_t id, size_t *len) {
    *len = t->off[id + 1] - t->off[id];
    return t->arena + t->off[id];
}

/* ---- special.c ---- */
int special_index_build(r1_tokenizer *t, r1_error *err);
/* Finds the first added token in text[from..len) that is matchable in
 * this mode. Returns its id and sets *start and *match_len, or returns -1. */
int32_t special_find_next(const r1_tokenizer *t, const char *text, size_t len, size_t from,
                          bool parse_special, size_t *start, size_t *match_len);
bool special_is_added(r1_token_type type);

/* ---- pretokenize.c ---- */
/* Compiles the regexes for `name`; -1 with a message for an unknown name.
 * Sets the vocabulary options that go with the name (NFC, ignore_merges,
 * forced add_bos). */
int pretokenizer_create(const char *name, pretokenizer **out, bool *nfc, bool *ignore_merges,
                        bool *force_bos, r1_error *err);
void pretokenizer_free(pretokenizer *p);
/* Called for each piece, in order. Returns 0, or -1 to stop (err set). */
typedef int (*piece_fn)(void *user, const char *piece, size_t len, r1_error *err);
int pretokenize(const pretokenizer *p, const char *text, size_t len, piece_fn fn, void *user,
                r1_error *err);

/* ---- normalize.c ---- */
/* NFC of text (invalid UTF-8 bytes kept as they are). *out is malloc'd. */
int normalize_nfc(const char *text, size_t len, char **out, size_t *out_len, r1_error *err);

/* ---- bytelevel.c ---- */
/* The character (code point) GPT-2's byte-level encoding uses for byte b. */
uint32_t bytelevel_char_of_byte(uint8_t b);
/* The byte that code point c stands for, or -1 if c is not one of the 256. */
int bytelevel_byte_of_char(uint32_t c);
/* Appends the UTF-8 encoding of byte b's character to out; returns 1 or 2. */
int bytelevel_encode_byte(uint8_t b, char *out);
/* Decodes a byte-level token text into raw bytes (out must hold len bytes;
 * characters outside the mapping are copied unchanged). Returns the length. */
size_t bytelevel_decode(const char *text, size_t len, char *out);

/* ---- pair_heap.c ---- */
/* A candidate merge of two adjacent symbols. */
typedef struct pair_candidate {
    double key;               /* lower pops first: BPE rank, or minus a SentencePiece score */
    int32_t left, right;      /* symbol positions; equal keys pop the leftmost first */
    int32_t check_a, check_b; /* the symbols when pushed, to spot stale candidates */
    int32_t result;           /* the merged token */
} pair_candidate;

typedef struct pair_heap {
    pair_candidate *items;
    size_t n, cap;
} pair_heap;

int pair_heap_push(pair_heap *h, pair_candidate c); /* -1 when out of memory */
pair_candidate pair_heap_pop(pair_heap *h);         /* h->n must be > 0 */
void pair_heap_free(pair_heap *h);

/* ---- bpe.c ---- */
int bpe_load_merges(r1_tokenizer *t, const gguf_array *merges, r1_error *err);
typedef struct id_vec {
    int32_t *data;
    size_t n, cap;
} id_vec;
int id_vec_push(id_vec *v, int32_t id); /* -1 when out of memory */
/* Scratch memory for one r1_tokenize call (never shared between threads). */
typedef struct bpe_scratch {
    int32_t *ids, *prev, *next; /* the symbols of the piece */
    size_t cap;
    pair_heap heap;
    char *encoded; /* the piece in byte-level characters */
    size_t encoded_cap;
} bpe_scratch;
void bpe_scratch_free(bpe_scratch *s);
/* BPE-encodes one pre-tokenized piece (raw bytes), appending ids to out. */
int bpe_encode_piece(const r1_tokenizer *t, const char *piece, size_t len, bpe_scratch *s, id_vec *out,
                     r1_error *err);

/* ---- spm.c ---- */
/* Tokenizes one text fragment (between added tokens); add_prefix puts the
 * leading space in front. */
int spm_encode_fragment(const r1_tokenizer *t, const char *text, size_t len, bool add_prefix,
                        id_vec *out, r1_error *err);

/* ---- detokenize.c ---- */
int pieces_build(r1_tokenizer *t, r1_error *err);

/* ---- utf8.c ---- */
/* See r1_utf8_char_len. */
int utf8_char_len(const unsigned char *s, size_t n);
/* Decodes the valid character at s (length from utf8_char_len > 0). */
uint32_t utf8_decode(const unsigned char *s, int len);
/* Writes code point c as UTF-8; returns the length (1-4). */
int utf8_encode(uint32_t c, char *out);

#endif
