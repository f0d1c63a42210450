/*
 * cmd_seal.c - `r1 model seal|open|verify|keygen`: sealed (encrypted)
 * model files and their keys (docs/SEALED-MODELS.md).
 *
 *   r1 model seal IN.gguf OUT.sealed --key-file K [--chunk-size BYTES] [--key-id TEXT] [-t N]
 *   r1 model open IN.sealed OUT.gguf --key-file K [-t N]
 *   r1 model verify FILE [--sha256 HEX | --manifest FILE.sha256] [--key-file K] [-t N]
 *   r1 model keygen -o K [--hex]
 *
 * The key comes from --key-file, else --key-command, else the file named by
 * R1_MODEL_KEY_FILE. Exit status: 0 done, 1 failed, 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "model/sealed.h"

typedef struct seal_options {
    const char *who;        /* "r1 model seal", for messages */
    const char *pos[2];     /* positional arguments */
    int n_pos;
    cli_key_options key;
    uint64_t chunk_size;
    const char *label;
    const char *sha256_hex;
    const char *manifest;
    const char *output;
    bool hex;
    int threads;
} seal_options;

static void seal_usage(void) {
    fprintf(stderr,
            "usage: r1 model seal IN.gguf OUT.sealed (--key-file K | --key-command CMD) [--chunk-size BYTES]\n"
            "                     [--key-id TEXT] [-t THREADS]\n"
            "       r1 model open IN.sealed OUT.gguf (--key-file K | --key-command CMD) [-t THREADS]\n"
            "       r1 model verify FILE [--sha256 HEX | --manifest FILE.sha256] [--key-file K | --key-command CMD]\n"
            "       r1 model keygen -o KEYFILE [--hex]\n"
            "The key may also come from the file named by R1_MODEL_KEY_FILE.\n");
}

static int parse_value_option(seal_options *o, const char *a, const char *v) {
    if (cli_key_option(a, v, &o->key)) return 0;
    if (strcmp(a, "--chunk-size") == 0) return arg_bytes(a, v, 1ull << 40, &o->chunk_size);
    if (strcmp(a, "--key-id") == 0) o->label = v;
    else if (strcmp(a, "--sha256") == 0) o->sha256_hex = v;
    else if (strcmp(a, "--manifest") == 0) o->manifest = v;
    else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) o->output = v;
    else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) return arg_int(a, v, 1, 1024, &o->threads);
    else {
        fprintf(stderr, "%s: unknown option '%s'\n", o->who, a);
        return -1;
    }
    return 0;
}

/* Options anywhere; up to max_pos positional arguments. */
static int parse_seal_options(int argc, char **argv, int max_pos, seal_options *o) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { seal_usage(); exit(0); }
        if (strcmp(a, "--hex") == 0) { o->hex = true; continue; }
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            if (o->n_pos == max_pos) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", o->who, a);
                return -1;
            }
            o->pos[o->n_pos++] = a;
            continue;
        }
        if (!(v = arg_value(argc, argv, &i)) || parse_value_option(o, a, v) != 0) return -1;
    }
    if (o->n_pos != max_pos) {
        fprintf(stderr, "%s: expected %d file argument%s\n", o->who, max_pos, max_pos == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

/* 1: key loaded; 0: none given (message printed; usage error); -1: failed. */
static int load_key(const seal_options *o, r1_seal_key *key) {
    r1_seal_key_source src = {.file = o->key.file, .command = o->key.command};
    r1_error err;
    int rc = r1_seal_key_resolve(&src, key, &err);
    if (rc < 0) fprintf(stderr, "%s: %s\n", o->who, err.message);
    if (rc == 0) fprintf(stderr, "%s: give the key with --key-file K, --key-command CMD or R1_MODEL_KEY_FILE\n", o->who);
    return rc;
}

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void hex32(const uint8_t sha[32], char out[65]) {
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", sha[i]);
}

static int model_seal(int argc, char **argv) {
    seal_options o = {.who = "r1 model seal"};
    if (parse_seal_options(argc, argv, 2, &o) != 0) { seal_usage(); return 2; }
    if (o.chunk_size > R1_SEAL_MAX_CHUNK || (o.chunk_size && o.chunk_size < R1_SEAL_MIN_CHUNK) ||
        (o.chunk_size & (o.chunk_size - 1))) {
        fprintf(stderr, "%s: --chunk-size must be a power of two from 4K to 1G\n", o.who);
        return 2;
    }
    r1_seal_key key;
    int have = load_key(&o, &key);
    if (have <= 0) return have == 0 ? 2 : 1;
    r1_seal_params p = {.chunk_size = (uint32_t)o.chunk_size, .label = o.label, .n_threads = o.threads};
    r1_error err;
    double t0 = cli_now();
    int rc = r1_seal_file(o.pos[0], o.pos[1], &key, &p, &err);
    double seconds = cli_now() - t0;
    char id[2 * R1_SEAL_KEY_ID_BYTES + 1];
    r1_seal_key_id_hex(key.id, id);
    r1_seal_key_wipe(&key);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", o.who, err.message);
        return 1;
    }
    uint64_t chunk = o.chunk_size ? o.chunk_size : R1_SEAL_DEFAULT_CHUNK;
    double gb = (double)file_size(o.pos[0]) / 1e9;
    fprintf(stderr, "%s: wrote %s (key id %s, chunks of %llu KiB): %.2f GB in %.2f s (%.2f GB/s)\n", o.who, o.pos[1],
            id, (unsigned long long)(chunk >> 10), gb, seconds, gb / seconds);
    return 0;
}

static int model_open(int argc, char **argv) {
    seal_options o = {.who = "r1 model open"};
    if (parse_seal_options(argc, argv, 2, &o) != 0) { seal_usage(); return 2; }
    r1_seal_key key;
    int have = load_key(&o, &key);
    if (have <= 0) return have == 0 ? 2 : 1;
    r1_error err;
    uint8_t sha[32];
    double t0 = cli_now();
    int rc = r1_seal_open_file(o.pos[0], o.pos[1], &key, o.threads, sha, &err);
    double seconds = cli_now() - t0;
    r1_seal_key_wipe(&key);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", o.who, err.message);
        return 1;
    }
    char hex[65];
    hex32(sha, hex);
    double gb = (double)file_size(o.pos[1]) / 1e9;
    fprintf(stderr, "%s: wrote %s (sha256 %s): %.2f GB in %.2f s (%.2f GB/s)\n", o.who, o.pos[1], hex, gb, seconds,
            gb / seconds);
    return 0;
}

/* ---- verify ---- */

static bool parse_sha_hex(const char *text, char out[65]) {
    if (strlen(text) != 64) return false;
    for (int i = 0; i < 64; i++) {
        char c = text[i];
        if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        out[i] = c;
    }
    out[64] = 0;
    return true;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* One sha256sum line: "HEX  NAME" or "HEX *NAME" (binary mode). Returns
 * the name, or NULL when the line is not in that form. */
static const char *manifest_line(char *line, char hex[65]) {
    line[strcspn(line, "\r\n")] = 0;
    if (strlen(line) < 67 || (line[64] != ' ') || (line[65] != ' ' && line[65] != '*')) return NULL;
    line[64] = 0;
    return parse_sha_hex(line, hex) ? line + 66 : NULL;
}

/* Finds the file's entry in a sha256sum manifest: the line whose name is
 * the path as given or has the same base name; a manifest of one line
 * applies to any file (so a model's manifest also checks its sealed copy). */
static int manifest_lookup(const char *manifest, const char *file, char want[65], const char *who) {
    FILE *f = fopen(manifest, "r");
    if (!f) { fprintf(stderr, "%s: %s: cannot open: %s\n", who, manifest, strerror(errno)); return -1; }
    char line[8192], hex[65], only[65] = "";
    int n_entries = 0, line_no = 0, found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        line_no++;
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == 0) continue;
        const char *name = manifest_line(line, hex);
        if (!name) {
            fprintf(stderr, "%s: %s:%d: not a sha256sum line (HEX, two spaces, NAME)\n", who, manifest, line_no);
            fclose(f);
            return -1;
        }
        if (n_entries++ == 0) memcpy(only, hex, sizeof hex);
        found = strcmp(name, file) == 0 || strcmp(base_name(name), base_name(file)) == 0;
        if (found) memcpy(want, hex, sizeof hex);
    }
    fclose(f);
    if (!found && n_entries == 1) memcpy(want, only, sizeof only), found = 1;
    if (!found) fprintf(stderr, "%s: %s is not listed in %s\n", who, file, manifest);
    return found ? 0 : -1;
}

/* The SHA-256 of the model in the file: of the file itself when plain, of
 * the decrypted model (all chunks and the header's hash checked) when sealed. */
static int file_model_hash(const seal_options *o, const char *path, uint8_t sha[32]) {
    r1_error err;
    int rc;
    if (r1_seal_probe_file(path)) {
        r1_seal_key key;
        int have = load_key(o, &key);
        if (have <= 0) return have == 0 ? 2 : 1;
        rc = r1_seal_open_file(path, NULL, &key, o->threads, sha, &err);
        r1_seal_key_wipe(&key);
    } else {
        rc = r1_sha256_file(path, sha, &err);
    }
    if (rc != 0) fprintf(stderr, "%s: %s\n", o->who, err.message);
    return rc == 0 ? 0 : 1;
}

static int model_verify(int argc, char **argv) {
    seal_options o = {.who = "r1 model verify"};
    if (parse_seal_options(argc, argv, 1, &o) != 0) { seal_usage(); return 2; }
    const char *path = o.pos[0];
    char want[65] = "", got[65];
    if (o.sha256_hex && o.manifest) { fprintf(stderr, "%s: give --sha256 or --manifest, not both\n", o.who); return 2; }
    if (o.sha256_hex && !parse_sha_hex(o.sha256_hex, want)) {
        fprintf(stderr, "%s: --sha256 expects 64 hex digits\n", o.who);
        return 2;
    }
    if (o.manifest && manifest_lookup(o.manifest, path, want, o.who) != 0) return 1;
    uint8_t sha[32];
    int rc = file_model_hash(&o, path, sha);
    if (rc != 0) return rc;
    hex32(sha, got);
    printf("%s  %s\n", got, path);
    if (!want[0]) {
        fprintf(stderr, "%s: %s: read completely%s; no --sha256 or --manifest to compare with\n", o.who, path,
                r1_seal_probe_file(path) ? " and every chunk authenticated" : "");
        return 0;
    }
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "%s: %s: SHA-256 mismatch: the file has %s, expected %s\n", o.who, path, got, want);
        return 1;
    }
    fprintf(stderr, "%s: %s: OK\n", o.who, path);
    return 0;
}

/* ---- keygen ---- */

static int write_key_file(const char *path, const r1_seal_key *key, bool hex, const char *who) {
    /* O_EXCL: never overwrite a key; losing one loses every model sealed with it */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot create %s: %s%s\n", who, path, strerror(errno),
                errno == EEXIST ? " (refusing to overwrite a key)" : "");
        return -1;
    }
    char text[2 * R1_SEAL_KEY_BYTES + 2];
    for (unsigned i = 0; hex && i < R1_SEAL_KEY_BYTES; i++) snprintf(text + 2 * i, 3, "%02x", key->bytes[i]);
    text[2 * R1_SEAL_KEY_BYTES] = '\n';
    const void *data = hex ? (const void *)text : (const void *)key->bytes;
    size_t n = hex ? sizeof text - 1 : R1_SEAL_KEY_BYTES;
    bool ok = write(fd, data, n) == (ssize_t)n && fsync(fd) == 0;
    memset(text, 0, sizeof text);
    if (close(fd) != 0) ok = false;
    if (!ok) {
        fprintf(stderr, "%s: cannot write %s: %s\n", who, path, strerror(errno));
        unlink(path);
    }
    return ok ? 0 : -1;
}

static int model_keygen(int argc, char **argv) {
    seal_options o = {.who = "r1 model keygen"};
    if (parse_seal_options(argc, argv, 0, &o) != 0) { seal_usage(); return 2; }
    if (!o.output) { fprintf(stderr, "%s: -o KEYFILE is required\n", o.who); return 2; }
    r1_seal_key key;
    r1_error err;
    if (r1_seal_key_generate(&key, &err) != 0) {
        fprintf(stderr, "%s: %s\n", o.who, err.message);
        return 1;
    }
    int rc = write_key_file(o.output, &key, o.hex, o.who);
    char id[2 * R1_SEAL_KEY_ID_BYTES + 1];
    r1_seal_key_id_hex(key.id, id);
    r1_seal_key_wipe(&key);
    if (rc != 0) return 1;
    fprintf(stderr, "%s: wrote %s (%s, mode 0600, key id %s); keep a copy: a model sealed with it cannot be "
            "opened without it\n", o.who, o.output, o.hex ? "64 hex digits" : "32 raw bytes", id);
    return 0;
}

int cmd_model_sealed(const char *sub, int argc, char **argv) {
    if (strcmp(sub, "seal") == 0) return model_seal(argc, argv);
    if (strcmp(sub, "open") == 0) return model_open(argc, argv);
    if (strcmp(sub, "verify") == 0) return model_verify(argc, argv);
    if (strcmp(sub, "keygen") == 0) return model_keygen(argc, argv);
    return -1;
}
