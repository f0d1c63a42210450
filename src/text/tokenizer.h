/*
 * tokenizer.h - text to token ids and back, for the vocabularies in GGUF
 * files (a model's file or a vocab-only one).
 *
 * Two kinds of vocabulary are supported, chosen by `tokenizer.ggml.model`:
 *
 *   "gpt2"  byte-level BPE (DeepSeek-R1/V3, R1-Distill-Qwen, Llama-3, ...).
 *           The text is split by the pre-tokenizer regexes named by
 *           `tokenizer.ggml.pre` (deepseek-v3, deepseek-r1-qwen, qwen2,
 *           llama-bpe, deepseek-llm, deepseek-coder, gpt-2, falcon,
 *           starcoder, default; any other name is an error at load), Qwen
 *           vocabularies first normalize each text fragment to NFC, and each
 *           piece is BPE-merged by merge rank.
 *   "llama" SentencePiece BPE with scores and <0xXX> byte fallback; a space
 *           is put in front of the text, and spaces become U+2581.
 *
 * The reference is Hugging Face `tokenizers` (the library behind Python
 * `transformers`); where llama.cpp differs from it, r1 follows HF.
 *
 * Added tokens: every CONTROL, USER_DEFINED and UNKNOWN token of the
 * vocabulary is an "added token". With parse_special, any of them found in
 * the text becomes that one token (leftmost match first, the longest one at
 * a position); without it only USER_DEFINED ones do (e.g. <think>), and
 * control tokens such as <｜User｜> are tokenized as plain text.
 *
 * Invalid UTF-8 in the input is not an error: bytes that are not part of a
 * valid character are kept as they are, match no letter/number/space class
 * of the pre-tokenizer, and become byte tokens, so detokenizing gives the
 * same bytes back. (HF cannot take such input at all.)
 *
 * Thread safety: a loaded tokenizer is never modified; r1_tokenize,
 * r1_detokenize and every query may be called from many threads at once.
 * A streaming detokenizer (r1_detok_stream) belongs to one thread.
 */
#ifndef R1_TEXT_TOKENIZER_H
#define R1_TEXT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "model/gguf.h"

typedef struct r1_tokenizer r1_tokenizer;

/* Token types as stored in `tokenizer.ggml.token_type`. */
typedef enum r1_token_type {
    R1_TOKEN_UNDEFINED = 0, /* also: an id outside the vocabulary */
    R1_TOKEN_NORMAL = 1,
    R1_TOKEN_UNKNOWN = 2,
    R1_TOKEN_CONTROL = 3,
    R1_TOKEN_USER_DEFINED = 4,
    R1_TOKEN_UNUSED = 5,
    R1_TOKEN_BYTE = 6
} r1_token_type;

/* Builds a tokenizer from the tokenizer.* keys of f. Everything needed is
 * copied, so f may be closed afterwards. Fails with a message naming the
 * file and key (missing token list, unknown model or pre-tokenizer, arrays
 * of the wrong type or length, duplicate tokens). */
int r1_tokenizer_load(const gguf_file *f, r1_tokenizer **out, r1_error *err);
void r1_tokenizer_free(r1_tokenizer *t);

/* Tokenizes text[0..len) (any bytes, NULs included). add_bos puts the BOS
 * token first when the vocabulary asks for one (tokenizer.ggml.add_bos_token,
 * default true for SentencePiece and Llama-3 vocabularies, false for other
 * BPE ones). *ids is malloc'd (the caller frees it; NULL when *n_ids is 0).
 * Fails only when out of memory or on an internal regex failure. */
int r1_tokenize(const r1_tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                int32_t **ids, size_t *n_ids, r1_error *err);

/* The bytes token id stands for: byte-level decoded for BPE vocabularies,
 * U+2581 turned into spaces for SentencePiece, the <0xXX> byte for byte
 * tokens, the text itself for control/user-defined tokens, empty for unused
 * ones. Not NUL-terminated; may be part of a UTF-8 character. NULL (and
 * *len 0) for an id outside the vocabulary. */
const char *r1_token_piece(const r1_tokenizer *t, int32_t id, size_t *len);

/* The token's text as stored in the vocabulary (before decoding). */
const char *r1_token_text(const r1_tokenizer *t, int32_t id, size_t *len);

/* Joins the pieces of ids into a new NUL-terminated string (*text, length
 * *len; the caller frees it). Control tokens are included as their text.
 * For SentencePiece, the space that tokenizing put in front of the text (at
 * the start and after each added token) is removed again, so
 * detokenize(tokenize(s)) == s for every s (NFC(s) for vocabularies that
 * normalize). Fails on an id outside the vocabulary. */
int r1_detokenize(const r1_tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len,
                  r1_error *err);

/* ---- streaming detokenization ----
 * Feed generated ids one at a time; each call gives the bytes that now form
 * complete UTF-8 characters and holds back an incomplete tail until the
 * next id completes it. Every chunk is valid UTF-8: a byte that can never
 * be part of a valid character is given as U+FFFD, and so is a tail still
 * incomplete at flush. For valid output the chunks joined equal
 * r1_detokenize of the same ids. */
typedef struct r1_detok_stream {
    const r1_tokenizer *tok;
    unsigned char pending[4]; /* start of a character still incomplete */
    size_t n_pending;
    bool after_special;       /* SentencePiece: strip the next leading space */
    char *buf;                /* output of the last call (owned) */
    size_t cap;
} r1_detok_stream;

void r1_detok_stream_init(r1_detok_stream *s, const r1_tokenizer *t);
/* *out, *out_len: the chunk (possibly empty), valid until the next call. */
int r1_detok_stream_feed(r1_detok_stream *s, int32_t id, const char **out, size_t *out_len,
                         r1_error *err);
int r1_detok_stream_flush(r1_detok_stream *s, const char **out, size_t *out_len, r1_error *err);
void r1_detok_stream_free(r1_detok_stream *s);

/* ---- queries ---- */
int32_t r1_tokenizer_n_vocab(const r1_tokenizer *t);
int32_t r1_token_bos(const r1_tokenizer *t); /* -1 when the vocabulary has none */
int32_t r1_token_eos(const r1_tokenizer *t); /* -1 when the vocabulary has none */
/* Whether r1_tokenize(add_bos = true) puts a BOS token first. */
bool r1_tokenizer_adds_bos(const r1_tokenizer *t);
/* End of generation: EOS, EOT/EOM ids from the file, and the tokens
 * <｜end▁of▁sentence｜>, <|im_end|>, <|eot_id|>, <|eom_id|>, <|end_of_text|>,
 * <|endoftext|>, <end_of_turn> where present. */
bool r1_token_is_eog(const r1_tokenizer *t, int32_t id);
r1_token_type r1_token_get_type(const r1_tokenizer *t, int32_t id);
const char *r1_tokenizer_model(const r1_tokenizer *t); /* "gpt2" or "llama" */
const char *r1_tokenizer_pre(const r1_tokenizer *t);   /* tokenizer.ggml.pre; "" when absent */
const char *r1_tokenizer_chat_template(const r1_tokenizer *t); /* NULL when absent */

/* Length of the UTF-8 character at s[0..n): 1-4 when complete and valid, 0
 * when s is the valid start of a character cut short by n, -1 when s[0]
 * cannot start a valid character here. For callers handling pieces. */
int r1_utf8_char_len(const char *s, size_t n);

#endif
