/*
 * cmd_tokenize.c - `r1 tokenize` and `r1 detokenize`: the tokenizer of a
 * model file from the command line. Only the GGUF metadata is read (no
 * weights), so vocab-only files work too.
 *
 *   r1 tokenize -m MODEL.gguf [--special] [--bos] [--pieces] TEXT
 *       prints the ids of TEXT as a JSON array; --special matches control
 *       tokens (<｜User｜>, <|eot_id|>, ...) written in the text, --bos puts
 *       BOS first when the model adds one, --pieces prints [[id, "piece"],
 *       ...] instead (bytes of a piece that are not a whole UTF-8 character
 *       are shown as <0xXX>).
 *   r1 tokenize -m MODEL.gguf [options] --jsonl
 *       reads one JSON string per line from stdin and prints one JSON
 *       array per line.
 *   r1 detokenize -m MODEL.gguf 1,2,3
 *       prints the text of the ids, exactly its bytes (no newline added).
 *
 * A sealed model file is decrypted with the key in R1_MODEL_KEY_FILE.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "model/gguf.h"
#include "model/sealed.h"
#include "text/tokenizer.h"

typedef struct tokenize_options {
    const char *model;
    const char *text;
    bool special, bos, pieces, jsonl;
} tokenize_options;

static void tokenize_usage(void) {
    fprintf(stderr,
            "usage: r1 tokenize -m MODEL.gguf [--special] [--bos] [--pieces] [--] TEXT\n"
            "       r1 tokenize -m MODEL.gguf [--special] [--bos] [--pieces] --jsonl  < strings.jsonl\n"
            "       r1 detokenize -m MODEL.gguf 1,2,3\n");
}

/* A sealed file, decrypted with the key from R1_MODEL_KEY_FILE. */
static int open_sealed_gguf(const char *path, gguf_file **f, r1_error *err) {
    r1_seal_key key;
    int have = r1_seal_key_resolve(NULL, &key, err);
    if (have == 0) return r1_error_set(err, "%s is a sealed model file: give its key (R1_MODEL_KEY_FILE)", path);
    if (have < 0) return -1;
    r1_secure_buffer plain;
    int rc = r1_seal_decrypt_file(path, &key, 0, &plain, err);
    r1_seal_key_wipe(&key);
    return rc != 0 ? -1 : gguf_open_owned(plain.data, plain.size, plain.map_size, path, f, err);
}

/* Opens the file's tokenizer; prints the error and returns -1 on failure. */
static int open_tokenizer(const char *path, r1_tokenizer **tok) {
    gguf_file *f;
    r1_error err;
    int rc = r1_seal_probe_file(path) ? open_sealed_gguf(path, &f, &err) : gguf_open(path, &f, &err);
    if (rc != 0) {
        fprintf(stderr, "r1: %s\n", err.message);
        return -1;
    }
    rc = r1_tokenizer_load(f, tok, &err);
    gguf_close(f);
    if (rc != 0) fprintf(stderr, "r1: %s\n", err.message);
    return rc;
}

/* A piece as a JSON string: its whole UTF-8 characters, and <0xXX> for
 * each byte that is not part of one (JSON strings must be valid UTF-8). */
static json_t *piece_json(const char *piece, size_t len) {
    char *text = malloc(6 * len + 1);
    if (!text) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        int clen = r1_utf8_char_len(piece + i, len - i);
        if (clen > 0) {
            memcpy(text + n, piece + i, (size_t)clen);
            n += (size_t)clen;
            i += (size_t)clen;
        } else {
            n += (size_t)sprintf(text + n, "<0x%02X>", (unsigned char)piece[i]);
            i++;
        }
    }
    json_t *s = json_stringn(text, n);
    free(text);
    return s;
}

static json_t *ids_json(const r1_tokenizer *tok, const int32_t *ids, size_t n, bool pieces) {
    json_t *array = json_array();
    for (size_t i = 0; array && i < n; i++) {
        json_t *item = json_integer(ids[i]);
        if (pieces) {
            size_t len;
            const char *piece = r1_token_piece(tok, ids[i], &len);
            item = json_pack("[o, o]", item, piece_json(piece, len));
        }
        if (json_array_append_new(array, item) != 0) {
            json_decref(array);
            return NULL;
        }
    }
    return array;
}

/* Tokenizes one text and prints its JSON line. */
static int print_tokens(const r1_tokenizer *tok, const tokenize_options *o, const char *text, size_t len) {
    int32_t *ids;
    size_t n;
    r1_error err;
    if (r1_tokenize(tok, text, len, o->bos, o->special, &ids, &n, &err) != 0) {
        fprintf(stderr, "r1 tokenize: %s\n", err.message);
        return -1;
    }
    json_t *array = ids_json(tok, ids, n, o->pieces);
    char *line = array ? json_dumps(array, 0) : NULL;
    if (line) printf("%s\n", line);
    else fprintf(stderr, "r1 tokenize: out of memory\n");
    free(line);
    json_decref(array);
    free(ids);
    return line ? 0 : -1;
}

/* --jsonl: one JSON string per line in, one JSON array per line out. */
static int tokenize_lines(const r1_tokenizer *tok, const tokenize_options *o) {
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (long number = 1; rc == 0 && getline(&line, &cap, stdin) != -1; number++) {
        json_error_t jerr;
        json_t *value = json_loads(line, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!json_is_string(value)) {
            fprintf(stderr, "r1 tokenize: stdin line %ld: expected a JSON string%s%s\n", number,
                    value ? "" : ": ", value ? "" : jerr.text);
            rc = -1;
        } else {
            rc = print_tokens(tok, o, json_string_value(value), json_string_length(value));
            fflush(stdout);
        }
        json_decref(value);
    }
    free(line);
    return rc;
}

static int parse_tokenize_options(int argc, char **argv, tokenize_options *o) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--special") == 0) o->special = true;
        else if (strcmp(a, "--bos") == 0) o->bos = true;
        else if (strcmp(a, "--pieces") == 0) o->pieces = true;
        else if (strcmp(a, "--jsonl") == 0) o->jsonl = true;
        else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            if (!(o->model = arg_value(argc, argv, &i))) return -1;
        } else if (strcmp(a, "--") == 0 && i + 1 < argc && !o->text) { /* a TEXT starting with '-' */
            o->text = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0' && !o->text) {
            fprintf(stderr, "r1 tokenize: unknown option '%s'\n", a);
            return -1;
        } else if (!o->text) {
            o->text = a;
        } else {
            fprintf(stderr, "r1 tokenize: one TEXT only (quote it); extra argument '%s'\n", a);
            return -1;
        }
    }
    if (!o->model || (!o->text && !o->jsonl) || (o->text && o->jsonl)) {
        fprintf(stderr, "r1 tokenize: -m MODEL and either TEXT or --jsonl are required\n");
        return -1;
    }
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    tokenize_options o = {0};
    if (parse_tokenize_options(argc, argv, &o) != 0) {
        tokenize_usage();
        return 2;
    }
    r1_tokenizer *tok;
    if (open_tokenizer(o.model, &tok) != 0) return 1;
    int rc = o.jsonl ? tokenize_lines(tok, &o) : print_tokens(tok, &o, o.text, strlen(o.text));
    r1_tokenizer_free(tok);
    return rc == 0 ? 0 : 1;
}

int cmd_detokenize(int argc, char **argv) {
    const char *model = NULL, *list = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--model") == 0) {
            if (!(model = arg_value(argc, argv, &i))) return 2;
        } else if (!list) {
            list = argv[i];
        } else {
            fprintf(stderr, "r1 detokenize: extra argument '%s'\n", argv[i]);
            return 2;
        }
    }
    int32_t *ids;
    int n;
    if (!model || !list) {
        tokenize_usage();
        return 2;
    }
    if (arg_token_list("detokenize", list, &ids, &n) != 0) return 2;
    r1_tokenizer *tok;
    if (open_tokenizer(model, &tok) != 0) {
        free(ids);
        return 1;
    }
    char *text;
    size_t len;
    r1_error err;
    int rc = r1_detokenize(tok, ids, (size_t)n, &text, &len, &err);
    if (rc == 0) {
        fwrite(text, 1, len, stdout);
        free(text);
    } else {
        fprintf(stderr, "r1 detokenize: %s\n", err.message);
    }
    r1_tokenizer_free(tok);
    free(ids);
    return rc == 0 ? 0 : 1;
}
