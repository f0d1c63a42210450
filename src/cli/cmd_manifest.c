/*
 * cmd_manifest.c - `r1 model manifest` and `r1 model verify-manifest`:
 * SHA-256 manifests of a model store (a directory of model files, or one
 * file), per file and per fixed-size chunk, so that a corrupt copy names the
 * chunk to repair (docs/OPERATIONS.md, "Model storage").
 *
 *   r1 model manifest DIR|FILE [-o MANIFEST] [--chunk-size 64M]
 *   r1 model verify-manifest MANIFEST [DIR] [--fast [--sample N]]
 *   r1 model verify DIR [--manifest MANIFEST] [--fast]     (the same check)
 *
 * The manifest is text. Its file lines are sha256sum lines ("HEX  NAME"), so
 * `sha256sum -c MANIFEST` in the directory and `r1 model verify FILE
 * --manifest MANIFEST` both work on it; the sizes and the chunk hashes are in
 * comment lines that sha256sum skips:
 *
 * verify checks every chunk (and the size); the whole-file hash only for a
 * file listed without chunk lines.
 *
 *   # r1 model manifest 1
 *   # chunk-size 67108864
 *   #size 1351471104 model.gguf
 *   #chunk 0 9f86d0...  model.gguf          (bytes 0 .. chunk-size-1)
 *   #chunk 1 ...
 *   9f86d0...  model.gguf
 *
 * NAME is the path relative to the directory (the manifest's own directory
 * unless DIR is given), and is always the last field, so it may hold spaces.
 * Exit status: 0 all good, 1 something corrupt, missing or unreadable,
 * 2 bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "args.h"
#include "base/error.h"
#include "base/log.h"
#include "commands.h"

#define MANIFEST_DEFAULT_CHUNK (64ull << 20)
#define MANIFEST_DEFAULT_NAME "r1.manifest"
#define MANIFEST_IO_BYTES (4u << 20)

static void manifest_usage(void) {
    fprintf(stderr,
            "usage: r1 model manifest DIR|FILE [-o MANIFEST] [--chunk-size 64M]\n"
            "       r1 model verify-manifest MANIFEST [DIR] [--fast [--sample N]]\n"
            "       r1 model verify DIR [--manifest MANIFEST] [--fast [--sample N]]\n"
            "MANIFEST defaults to DIR/" MANIFEST_DEFAULT_NAME " (written with -o -: standard output).\n"
            "--fast checks every size and N chunks per file (default 4: the first, the last\n"
            "and random ones) instead of every byte.\n");
}

static void to_hex(const unsigned char *sha, char out[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) out[2 * i] = digits[sha[i] >> 4], out[2 * i + 1] = digits[sha[i] & 15];
    out[64] = 0;
}

static bool is_hex64(const char *s) {
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* ---- the files of a directory, sorted ---- */

typedef struct name_list {
    char **names;
    size_t n, cap;
} name_list;

static int list_add(name_list *l, const char *name) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **p = realloc(l->names, cap * sizeof *p);
        if (!p) return -1;
        l->names = p, l->cap = cap;
    }
    if (!(l->names[l->n] = strdup(name))) return -1;
    l->n++;
    return 0;
}

static void list_free(name_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Regular files under root/rel, recursively (symbolic links are not
 * followed); skips the file with the identity of `skip` (the manifest). */
static int walk(const char *root, const char *rel, const struct stat *skip, name_list *out) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "r1 model manifest: %s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char sub[4096], full[8200];
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= sizeof sub) {
            fprintf(stderr, "r1 model manifest: a path under %s is too long\n", root);
            rc = -1;
            break;
        }
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (lstat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            rc = walk(root, sub, skip, out);
        } else if (S_ISREG(st.st_mode)) {
            if (skip && st.st_dev == skip->st_dev && st.st_ino == skip->st_ino) continue;
            if (strchr(sub, '\n') || strchr(sub, '\r')) {
                fprintf(stderr, "r1 model manifest: %s: a name with a line break cannot be listed\n", full);
                rc = -1;
            } else if (list_add(out, sub) != 0) {
                rc = -1;
            }
        }
    }
    closedir(d);
    return rc;
}

/* ---- hashing a file chunk by chunk ---- */

typedef struct hasher {
    EVP_MD_CTX *file, *chunk;
    unsigned char *buf;
} hasher;

static int hasher_init(hasher *h) {
    h->file = EVP_MD_CTX_new();
    h->chunk = EVP_MD_CTX_new();
    h->buf = malloc(MANIFEST_IO_BYTES);
    if (!h->file || !h->chunk || !h->buf) {
        fprintf(stderr, "r1: out of memory\n");
        return -1;
    }
    return 0;
}

static void hasher_free(hasher *h) {
    EVP_MD_CTX_free(h->file);
    EVP_MD_CTX_free(h->chunk);
    free(h->buf);
}

/* Hashes `len` bytes at `off` of fd into the chunk context (and the file
 * context when file_too). Returns bytes read (less than len at the end). */
static int64_t hash_range(hasher *h, int fd, uint64_t off, uint64_t len, bool file_too, const char *path) {
    uint64_t done = 0;
    EVP_DigestInit_ex(h->chunk, EVP_sha256(), NULL);
    while (done < len) {
        size_t want = len - done < MANIFEST_IO_BYTES ? (size_t)(len - done) : MANIFEST_IO_BYTES;
        ssize_t n = pread(fd, h->buf, want, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "r1: %s: read error at byte %llu: %s\n", path, (unsigned long long)(off + done),
                    strerror(errno));
            return -1;
        }
        if (n == 0) break;
        EVP_DigestUpdate(h->chunk, h->buf, (size_t)n);
        if (file_too) EVP_DigestUpdate(h->file, h->buf, (size_t)n);
        done += (uint64_t)n;
    }
    return (int64_t)done;
}

static void chunk_digest(hasher *h, char hex[65]) {
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->chunk, md, &n);
    to_hex(md, hex);
}

/* ---- r1 model manifest ---- */

static int write_entry(FILE *out, hasher *h, const char *root, const char *name, uint64_t chunk, uint64_t *bytes) {
    char path[4096], hex[65];
    snprintf(path, sizeof path, "%s/%s", root, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "r1 model manifest: %s: cannot open: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    fprintf(out, "#size %llu %s\n", (unsigned long long)size, name);
    EVP_DigestInit_ex(h->file, EVP_sha256(), NULL);
    for (uint64_t i = 0, off = 0; off < size || (size == 0 && i == 0); i++, off += chunk) {
        if (size == 0) break;
        uint64_t len = size - off < chunk ? size - off : chunk;
        int64_t got = hash_range(h, fd, off, len, true, path);
        if (got < 0 || (uint64_t)got != len) {
            if (got >= 0) fprintf(stderr, "r1 model manifest: %s: the file shrank while being read\n", path);
            close(fd);
            return -1;
        }
        chunk_digest(h, hex);
        fprintf(out, "#chunk %llu %s %s\n", (unsigned long long)i, hex, name);
    }
    close(fd);
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->file, md, &n);
    to_hex(md, hex);
    fprintf(out, "%s  %s\n", hex, name);
    *bytes += size;
    return 0;
}

static int model_manifest(int argc, char **argv) {
    const char *who = "r1 model manifest", *target = NULL, *output = NULL;
    uint64_t chunk = MANIFEST_DEFAULT_CHUNK;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { manifest_usage(); return 0; }
        if (a[0] != '-') {
            if (target) { fprintf(stderr, "%s: unexpected argument '%s'\n", who, a); return 2; }
            target = a;
            continue;
        }
        if (!(v = arg_value(argc, argv, &i))) return 2;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) output = v;
        else if (strcmp(a, "--chunk-size") == 0) { if (arg_bytes(a, v, 1ull << 34, &chunk) != 0) return 2; }
        else { fprintf(stderr, "%s: unknown option '%s'\n", who, a); manifest_usage(); return 2; }
    }
    if (!target) { manifest_usage(); return 2; }
    struct stat st;
    if (stat(target, &st) != 0) {
        fprintf(stderr, "%s: %s: %s\n", who, target, strerror(errno));
        return 1;
    }
    char root[4096], default_out[4200];
    name_list names = {0};
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        snprintf(root, sizeof root, "%s", target);
        size_t len = strlen(root);
        while (len > 1 && root[len - 1] == '/') root[--len] = 0;
        snprintf(default_out, sizeof default_out, "%s/%s", root, MANIFEST_DEFAULT_NAME);
        if (!output) output = default_out;
        struct stat out_st, *skip = NULL;
        if (strcmp(output, "-") != 0 && stat(output, &out_st) == 0) skip = &out_st;
        /* the temporary file written next to the manifest is not listed either */
        char tmp_name[4300];
        snprintf(tmp_name, sizeof tmp_name, "%s.tmp", output);
        rc = walk(root, "", skip, &names);
        for (size_t i = 0; rc == 0 && i < names.n; i++) {
            char full[8400];
            snprintf(full, sizeof full, "%s/%s", root, names.names[i]);
            struct stat a, b;
            if (stat(full, &a) == 0 && stat(tmp_name, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
                free(names.names[i]);
                memmove(names.names + i, names.names + i + 1, (names.n - i - 1) * sizeof *names.names);
                names.n--, i--;
            }
        }
    } else if (S_ISREG(st.st_mode)) {
        const char *slash = strrchr(target, '/');
        if (slash) snprintf(root, sizeof root, "%.*s", (int)((slash - target) ? (slash - target) : 1), target);
        else snprintf(root, sizeof root, ".");
        rc = list_add(&names, slash ? slash + 1 : target);
        if (!output) output = "-";
    } else {
        fprintf(stderr, "%s: %s is neither a directory nor a regular file\n", who, target);
        return 1;
    }
    if (rc != 0) { list_free(&names); return 1; }
    qsort(names.names, names.n, sizeof *names.names, cmp_names);

    char tmp[4300] = "";
    FILE *out = stdout;
    if (strcmp(output, "-") != 0) {
        snprintf(tmp, sizeof tmp, "%s.tmp", output);
        if (!(out = fopen(tmp, "w"))) {
            fprintf(stderr, "%s: cannot create %s: %s\n", who, tmp, strerror(errno));
            list_free(&names);
            return 1;
        }
    }
    hasher h;
    uint64_t bytes = 0;
    double t0 = cli_now();
    rc = hasher_init(&h);
    if (rc == 0) {
        fprintf(out, "# r1 model manifest 1: sha256sum lines per file, sizes and chunk hashes in comments\n");
        fprintf(out, "# chunk-size %llu\n", (unsigned long long)chunk);
        for (size_t i = 0; rc == 0 && i < names.n; i++) rc = write_entry(out, &h, root, names.names[i], chunk, &bytes);
    }
    hasher_free(&h);
    if (out != stdout) {
        if (fflush(out) != 0 || fsync(fileno(out)) != 0) rc = -1;
        if (fclose(out) != 0) rc = -1;
        if (rc == 0 && rename(tmp, output) != 0) {
            fprintf(stderr, "%s: cannot rename %s to %s: %s\n", who, tmp, output, strerror(errno));
            rc = -1;
        }
        if (rc != 0) unlink(tmp);
    } else if (fflush(stdout) != 0) {
        rc = -1;
    }
    double s = cli_now() - t0;
    if (rc == 0)
        fprintf(stderr, "%s: %zu file%s, %.3f GB in %.2f s (%.2f GB/s), chunks of %llu MiB%s%s\n", who, names.n,
                names.n == 1 ? "" : "s", (double)bytes / 1e9, s, s > 0 ? (double)bytes / 1e9 / s : 0.0,
                (unsigned long long)(chunk >> 20), out != stdout ? ": wrote " : "", out != stdout ? output : "");
    list_free(&names);
    return rc == 0 ? 0 : 1;
}

/* ---- r1 model verify-manifest ---- */

typedef struct entry {
    char *name;
    uint64_t size;
    bool have_size;
    char file_hex[65];
    char (*chunks)[65];
    uint64_t n_chunks, cap_chunks;
} entry;

typedef struct manifest {
    uint64_t chunk;
    entry *e;
    size_t n, cap;
} manifest;

static entry *entry_for(manifest *m, const char *name) {
    if (m->n && strcmp(m->e[m->n - 1].name, name) == 0) return &m->e[m->n - 1];
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        entry *p = realloc(m->e, cap * sizeof *p);
        if (!p) return NULL;
        m->e = p, m->cap = cap;
    }
    entry *e = &m->e[m->n++];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name))) { m->n--; return NULL; }
    return e;
}

static void manifest_free(manifest *m) {
    for (size_t i = 0; i < m->n; i++) free(m->e[i].name), free(m->e[i].chunks);
    free(m->e);
}

static int read_manifest(const char *path, manifest *m, const char *who) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s: cannot open: %s\n", who, path, strerror(errno));
        return -1;
    }
    char line[8400];
    int line_no = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        line_no++;
        line[strcspn(line, "\r\n")] = 0;
        unsigned long long a;
        int used = 0;
        char hex[65];
        if (sscanf(line, "# chunk-size %llu%n", &a, &used) == 1 && line[used] == 0) {
            m->chunk = a;
        } else if (strncmp(line, "#size ", 6) == 0) {
            if (sscanf(line + 6, "%llu %n", &a, &used) != 1 || !line[6 + used]) goto bad;
            entry *e = entry_for(m, line + 6 + used);
            if (!e) goto oom;
            e->size = a, e->have_size = true;
        } else if (strncmp(line, "#chunk ", 7) == 0) {
            if (sscanf(line + 7, "%llu %64s %n", &a, hex, &used) != 2 || strlen(hex) != 64 || !is_hex64(hex) ||
                !line[7 + used])
                goto bad;
            entry *e = entry_for(m, line + 7 + used);
            if (!e) goto oom;
            if (a != e->n_chunks) goto bad; /* in order, none missing */
            if (e->n_chunks == e->cap_chunks) {
                uint64_t cap = e->cap_chunks ? 2 * e->cap_chunks : 64;
                char(*p)[65] = realloc(e->chunks, cap * sizeof *p);
                if (!p) goto oom;
                e->chunks = p, e->cap_chunks = cap;
            }
            memcpy(e->chunks[e->n_chunks++], hex, 65);
        } else if (line[0] == '#' || line[strspn(line, " \t")] == 0) {
            continue;
        } else {
            if (strlen(line) < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*')) goto bad;
            memcpy(hex, line, 64);
            hex[64] = 0;
            for (int i = 0; i < 64; i++)
                if (hex[i] >= 'A' && hex[i] <= 'F') hex[i] = (char)(hex[i] - 'A' + 'a');
            if (!is_hex64(hex)) goto bad;
            entry *e = entry_for(m, line + 66);
            if (!e) goto oom;
            memcpy(e->file_hex, hex, 65);
        }
        continue;
    bad:
        fprintf(stderr, "%s: %s:%d: not a manifest line: %.120s\n", who, path, line_no, line);
        rc = -1;
        continue;
    oom:
        fprintf(stderr, "%s: out of memory\n", who);
        rc = -1;
    }
    fclose(f);
    if (rc == 0 && m->n == 0) {
        fprintf(stderr, "%s: %s lists no files\n", who, path);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < m->n; i++) {
        entry *e = &m->e[i];
        if (!e->file_hex[0] && !e->n_chunks) {
            fprintf(stderr, "%s: %s: no hash for %s\n", who, path, e->name);
            rc = -1;
        }
        if (e->n_chunks && (!e->have_size || !m->chunk || (e->n_chunks - 1) * m->chunk >= e->size ||
                            e->n_chunks * m->chunk < e->size)) {
            fprintf(stderr, "%s: %s: the chunks of %s do not match its size and the chunk size\n", who, path,
                    e->name);
            rc = -1;
        }
    }
    return rc;
}

/* xorshift64 for the fast mode's sample */
static uint64_t next_random(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* Checks one file; prints one line per problem (or "OK name") on out.
 * Returns the number of problems. */
static int verify_entry(const manifest *m, const entry *e, const char *root, hasher *h, bool fast, int sample,
                        uint64_t *seed, uint64_t *bytes, FILE *out) {
    char path[8400], hex[65];
    snprintf(path, sizeof path, "%s/%s", root, e->name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(out, "MISSING %s (%s)\n", e->name, strerror(errno));
        if (fd >= 0) close(fd);
        return 1;
    }
    int problems = 0;
    uint64_t size = (uint64_t)st.st_size;
    if (e->have_size && size != e->size) {
        fprintf(out, "SIZE %s: %llu bytes, expected %llu\n", e->name, (unsigned long long)size,
               (unsigned long long)e->size);
        problems++;
    }
    bool whole = !fast || !e->n_chunks;
    /* With chunk hashes covering the whole size, the file's own hash adds
     * nothing (SHA-256 is collision-resistant) and would double the work:
     * it is computed only for files listed without chunks. */
    bool file_hash = whole && !e->n_chunks && e->file_hex[0];
    if (file_hash) {
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        EVP_DigestInit_ex(h->file, EVP_sha256(), NULL);
    }
    uint64_t chunk = e->n_chunks ? m->chunk : (size ? size : 1);
    uint64_t n = e->n_chunks ? e->n_chunks : 1;
    /* fast: the first and last chunks and sample-2 others at random */
    uint64_t picks[64];
    int n_picks = 0;
    if (!whole) {
        picks[n_picks++] = 0;
        if (n > 1) picks[n_picks++] = n - 1;
        for (int k = 2; k < sample && (uint64_t)n_picks < n && n_picks < 64; k++) {
            uint64_t c = next_random(seed) % n;
            bool dup = false;
            for (int j = 0; j < n_picks; j++) dup |= picks[j] == c;
            if (!dup) picks[n_picks++] = c;
            else k--;
        }
    }
    for (uint64_t i = 0, p = 0; whole ? i < n : p < (uint64_t)n_picks; whole ? i++ : p++) {
        uint64_t c = whole ? i : picks[p];
        uint64_t off = c * chunk;
        uint64_t len = e->n_chunks ? (e->size - off < chunk ? e->size - off : chunk) : size;
        int64_t got = hash_range(h, fd, off, len, file_hash, path);
        if (got < 0) { problems++; break; }
        *bytes += (uint64_t)got;
        if (!e->n_chunks) break;
        chunk_digest(h, hex);
        if ((uint64_t)got != len || strcmp(hex, e->chunks[c]) != 0) {
            fprintf(out, "CORRUPT %s chunk %llu (bytes %llu-%llu)%s\n", e->name, (unsigned long long)c,
                   (unsigned long long)off, (unsigned long long)(off + len - 1),
                   (uint64_t)got != len ? ": short" : "");
            problems++;
        }
    }
    if (file_hash) {
        unsigned char md[32];
        unsigned int mdn = 0;
        EVP_DigestFinal_ex(h->file, md, &mdn);
        to_hex(md, hex);
        if (strcmp(hex, e->file_hex) != 0) {
            if (problems == 0) fprintf(out, "CORRUPT %s: SHA-256 %s, expected %s\n", e->name, hex, e->file_hex);
            problems += problems == 0;
        }
    }
    close(fd);
    if (problems == 0) fprintf(out, "OK %s%s\n", e->name, whole ? "" : " (sampled)");
    return problems;
}

static int verify_manifest_run(const char *manifest_path, const char *dir, bool fast, int sample, const char *who) {
    char root[4096];
    if (dir) {
        snprintf(root, sizeof root, "%s", dir);
    } else {
        const char *slash = strrchr(manifest_path, '/');
        if (slash) snprintf(root, sizeof root, "%.*s", (int)((slash - manifest_path) ? (slash - manifest_path) : 1),
                            manifest_path);
        else snprintf(root, sizeof root, ".");
    }
    manifest m = {0};
    if (read_manifest(manifest_path, &m, who) != 0) {
        manifest_free(&m);
        return 1;
    }
    hasher h;
    if (hasher_init(&h) != 0) {
        hasher_free(&h);
        manifest_free(&m);
        return 1;
    }
    uint64_t seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    if (!seed) seed = 1;
    uint64_t bytes = 0;
    int problems = 0, bad_files = 0;
    double t0 = cli_now();
    for (size_t i = 0; i < m.n; i++) {
        int p = verify_entry(&m, &m.e[i], root, &h, fast, sample, &seed, &bytes, stdout);
        problems += p;
        bad_files += p > 0;
    }
    fflush(stdout);
    double s = cli_now() - t0;
    fprintf(stderr, "%s: %s: %zu file%s, %.3f GB read in %.2f s (%.2f GB/s)%s: %s\n", who, root, m.n,
            m.n == 1 ? "" : "s", (double)bytes / 1e9, s, s > 0 ? (double)bytes / 1e9 / s : 0.0,
            fast ? ", sampled chunks" : "", problems ? "CORRUPT" : "all OK");
    if (problems)
        fprintf(stderr, "%s: %d problem%s in %d file%s; repair them from a healthy copy (docs/OPERATIONS.md)\n", who,
                problems, problems == 1 ? "" : "s", bad_files, bad_files == 1 ? "" : "s");
    hasher_free(&h);
    manifest_free(&m);
    return problems ? 1 : 0;
}

/* r1 serve --verify full|fast: the model file against the manifest beside
 * it (or manifest_path), before it is loaded; each line of the check is
 * logged. 0, or -1 with err naming the corrupt chunk. */
int cli_verify_served_model(const char *model, const char *mode, const char *manifest_path, r1_error *err) {
    const char *who = "r1 serve --verify";
    char real_model[PATH_MAX], root[PATH_MAX], default_path[PATH_MAX + 32];
    if (!realpath(model, real_model)) return r1_error_set(err, "%s: %s", model, strerror(errno));
    if (!manifest_path) {
        snprintf(default_path, sizeof default_path, "%.*s/%s", (int)(strrchr(real_model, '/') - real_model),
                 real_model, MANIFEST_DEFAULT_NAME);
        manifest_path = default_path;
    }
    char manifest_dir[PATH_MAX + 32];
    snprintf(manifest_dir, sizeof manifest_dir, "%s", manifest_path);
    char *slash = strrchr(manifest_dir, '/');
    if (slash) *slash = '\0';
    if (!realpath(slash ? (manifest_dir[0] ? manifest_dir : "/") : ".", root))
        return r1_error_set(err, "%s: %s", manifest_path, strerror(errno));
    size_t n_root = strlen(root);
    if (strncmp(real_model, root, n_root) != 0 || real_model[n_root] != '/')
        return r1_error_set(err, "%s is not in %s, the folder of the manifest %s", model, root, manifest_path);
    const char *name = real_model + n_root + 1;
    manifest m = {0};
    hasher h = {0};
    int rc = read_manifest(manifest_path, &m, who) == 0 ? 0 : r1_error_set(err, "cannot read the manifest %s", manifest_path);
    entry *e = NULL;
    for (size_t i = 0; rc == 0 && i < m.n && !e; i++)
        if (strcmp(m.e[i].name, name) == 0) e = &m.e[i];
    if (rc == 0 && !e) rc = r1_error_set(err, "the manifest %s lists no %s", manifest_path, name);
    if (rc == 0 && hasher_init(&h) != 0) rc = r1_error_set(err, "out of memory");
    if (rc == 0) {
        char *report = NULL;
        size_t report_len = 0;
        FILE *out = open_memstream(&report, &report_len);
        uint64_t seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid(), bytes = 0;
        double t0 = cli_now();
        int problems = out ? verify_entry(&m, e, root, &h, strcmp(mode, "fast") == 0, 4, &seed, &bytes, out) : 1;
        if (out) fclose(out);
        double s = cli_now() - t0;
        for (char *line = report, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = '\0';
            if (problems) r1_log_error("%s: %s", who, line);
            else r1_log_info("%s: %s against %s: %.3f GB in %.2f s (%.2f GB/s)", who, line, manifest_path,
                             (double)bytes / 1e9, s, s > 0 ? (double)bytes / 1e9 / s : 0.0);
            if (!next) break;
        }
        if (problems)
            rc = r1_error_set(err, "%s does not match its manifest %s (%s): repair it from a healthy copy "
                                   "(docs/OPERATIONS.md)", model, manifest_path, report ? report : "?");
        free(report);
    }
    hasher_free(&h);
    manifest_free(&m);
    return rc;
}

/* verify-manifest MANIFEST [DIR] or (from `r1 model verify DIR`) DIR
 * [--manifest M]. */
static int verify_common(int argc, char **argv, bool dir_first, const char *who) {
    const char *pos[2] = {0}, *manifest_path = NULL;
    int n_pos = 0, sample = 4;
    bool fast = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { manifest_usage(); return 0; }
        if (strcmp(a, "--fast") == 0) { fast = true; continue; }
        if (strcmp(a, "--full") == 0) { fast = false; continue; }
        if (a[0] != '-') {
            if (n_pos == 2) { fprintf(stderr, "%s: unexpected argument '%s'\n", who, a); return 2; }
            pos[n_pos++] = a;
            continue;
        }
        if (!(v = arg_value(argc, argv, &i))) return 2;
        if (strcmp(a, "--manifest") == 0) manifest_path = v;
        else if (strcmp(a, "--sample") == 0) { if (arg_int(a, v, 1, 64, &sample) != 0) return 2; }
        else { fprintf(stderr, "%s: unknown option '%s'\n", who, a); manifest_usage(); return 2; }
    }
    char default_path[4200];
    const char *dir;
    if (dir_first) {
        if (n_pos != 1) { manifest_usage(); return 2; }
        dir = pos[0];
        if (!manifest_path) {
            snprintf(default_path, sizeof default_path, "%s/%s", dir, MANIFEST_DEFAULT_NAME);
            manifest_path = default_path;
        }
    } else {
        if (n_pos < 1 || manifest_path) { manifest_usage(); return 2; }
        manifest_path = pos[0];
        dir = n_pos == 2 ? pos[1] : NULL;
    }
    return verify_manifest_run(manifest_path, dir, fast, sample, who);
}

int cmd_model_manifest(const char *sub, int argc, char **argv) {
    if (strcmp(sub, "manifest") == 0) return model_manifest(argc, argv);
    if (strcmp(sub, "verify-manifest") == 0) return verify_common(argc, argv, false, "r1 model verify-manifest");
    if (strcmp(sub, "verify") == 0) {
        /* `r1 model verify DIR`: the directory's manifest; a file stays with cmd_seal.c */
        for (int i = 0; i < argc; i++) {
            struct stat st;
            if (argv[i][0] == '-') {
                if (strcmp(argv[i], "--fast") && strcmp(argv[i], "--full") && strcmp(argv[i], "--hex")) i++;
                continue;
            }
            if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) return verify_common(argc, argv, true, "r1 model verify");
            break;
        }
    }
    return -1;
}
