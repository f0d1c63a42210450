/*
 * model.c - loading a GGUF model into an r1_model (see model.h).
 *
 * The order is: open the file, decide the architecture, read and check the
 * hyper-parameters, then bind every tensor by name with its expected shape.
 * All checks happen here so that the forward pass can trust the model.
 */
#include "model/model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/log.h"
#include "model/model_load.h"
#include "model/sealed.h"
#include "tensor/interleave.h"
#include "tensor/kernels.h"

/* ---- hyper-parameters ---- */

/* Reads "<arch>.<suffix>" as a positive int; *out keeps def when the key is
 * absent and def >= 0; a missing key without default is an error. */
int r1_load_int(const gguf_file *f, const char *arch, const char *suffix, int def, int *out, r1_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!gguf_find_kv(f, key)) {
        if (def < 0) return r1_error_set(err, "missing metadata key '%s'", key);
        *out = def;
        return 0;
    }
    uint32_t v;
    if (gguf_get_u32(f, key, &v, err) != 0) return -1;
    if (v == 0 || v > (1u << 30)) return r1_error_set(err, "metadata key '%s' = %u is out of range", key, v);
    *out = (int)v;
    return 0;
}

int r1_load_float(const gguf_file *f, const char *arch, const char *suffix, float def, float *out, r1_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!gguf_find_kv(f, key)) {
        *out = def;
        return 0;
    }
    return gguf_get_f32(f, key, out, err);
}

int r1_load_bool(const gguf_file *f, const char *arch, const char *suffix, bool def, bool *out, r1_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!gguf_find_kv(f, key)) {
        *out = def;
        return 0;
    }
    return gguf_get_bool(f, key, out, err);
}

static int read_arch(const gguf_file *f, r1_hparams *hp, r1_error *err) {
    gguf_string s;
    if (gguf_get_string(f, "general.architecture", &s, err) != 0) return -1;
    if (s.len >= sizeof hp->arch_name) s.len = sizeof hp->arch_name - 1;
    memcpy(hp->arch_name, s.ptr, s.len);
    hp->arch_name[s.len] = 0;
    if (strcmp(hp->arch_name, "llama") == 0) hp->arch = R1_ARCH_LLAMA;
    else if (strcmp(hp->arch_name, "qwen2") == 0) hp->arch = R1_ARCH_QWEN2;
    else if (strcmp(hp->arch_name, "deepseek2") == 0) hp->arch = R1_ARCH_DEEPSEEK2;
    else
        return r1_error_set(err, "general.architecture '%s' is not supported (supported: llama, qwen2, deepseek2)",
                            hp->arch_name);
    return 0;
}

/* Linear RoPE scaling ("rope.scaling.type" = linear) divides positions by
 * the factor; other scaling types are refused rather than run wrongly. */
static int read_rope_scaling(const gguf_file *f, r1_hparams *hp, r1_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", hp->arch_name);
    hp->rope.freq_scale = 1.0f;
    if (!gguf_find_kv(f, key)) return 0;
    gguf_string type;
    if (gguf_get_string(f, key, &type, err) != 0) return -1;
    if (type.len == 4 && memcmp(type.ptr, "none", 4) == 0) return 0;
    if (!(type.len == 6 && memcmp(type.ptr, "linear", 6) == 0))
        return r1_error_set(err, "metadata '%s' = '%.*s' is not supported for %s (only linear)", key,
                            (int)type.len, type.ptr, hp->arch_name);
    float factor;
    if (r1_load_float(f, hp->arch_name, "rope.scaling.factor", 1.0f, &factor, err) != 0) return -1;
    if (!(factor > 0.0f)) return r1_error_set(err, "metadata '%s.rope.scaling.factor' must be > 0", hp->arch_name);
    hp->rope.freq_scale = 1.0f / factor;
    return 0;
}

/* general.file_type as the name quantizers use (llama.cpp's numbering). */
static const char *file_type_name(const gguf_file *f) {
    static const char *names[] = {
        [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0",
        [9] = "Q5_1", [10] = "Q2_K", [11] = "Q3_K_S", [12] = "Q3_K_M", [13] = "Q3_K_L",
        [14] = "Q4_K_S", [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M", [18] = "Q6_K",
        [32] = "BF16",
    };
    uint32_t t;
    if (!gguf_find_kv(f, "general.file_type") || gguf_get_u32(f, "general.file_type", &t, NULL) != 0 ||
        t >= sizeof names / sizeof names[0] || !names[t])
        return "unknown";
    return names[t];
}

/* A special token id from the tokenizer metadata, -1 when absent. */
static int read_special_token(const gguf_file *f, const char *key, int32_t *out, r1_error *err) {
    *out = -1;
    if (!gguf_find_kv(f, key)) return 0;
    uint32_t v;
    if (gguf_get_u32(f, key, &v, err) != 0) return -1;
    *out = v > INT32_MAX ? -1 : (int32_t)v;
    return 0;
}

static int read_hparams(const gguf_file *f, r1_hparams *hp, r1_error *err) {
    const char *a = hp->arch_name;
    if (r1_load_int(f, a, "embedding_length", -1, &hp->n_embd, err) != 0 ||
        r1_load_int(f, a, "block_count", -1, &hp->n_layer, err) != 0 ||
        r1_load_int(f, a, "feed_forward_length", -1, &hp->n_ff, err) != 0 ||
        r1_load_int(f, a, "attention.head_count", -1, &hp->n_head, err) != 0 ||
        r1_load_int(f, a, "attention.head_count_kv", hp->n_head, &hp->n_head_kv, err) != 0 ||
        r1_load_int(f, a, "context_length", 2048, &hp->n_ctx_train, err) != 0)
        return -1;
    if (hp->n_embd % hp->n_head != 0)
        return r1_error_set(err, "%s.embedding_length %d is not a multiple of the head count %d", a,
                            hp->n_embd, hp->n_head);
    if (r1_load_int(f, a, "attention.key_length", hp->n_embd / hp->n_head, &hp->head_dim, err) != 0)
        return -1;
    if (hp->n_head % hp->n_head_kv != 0)
        return r1_error_set(err, "%s.attention.head_count %d is not a multiple of head_count_kv %d", a,
                            hp->n_head, hp->n_head_kv);
    hp->file_type = file_type_name(f);
    if (read_special_token(f, "tokenizer.ggml.bos_token_id", &hp->bos_token, err) != 0 ||
        read_special_token(f, "tokenizer.ggml.eos_token_id", &hp->eos_token, err) != 0)
        return -1;
    if (r1_load_float(f, a, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps, err) != 0 ||
        r1_load_float(f, a, "rope.freq_base", 10000.0f, &hp->rope.freq_base, err) != 0)
        return -1;
    if (r1_load_int(f, a, "rope.dimension_count", hp->head_dim, &hp->rope.n_dims, err) != 0) return -1;
    if (hp->rope.n_dims > hp->head_dim || hp->rope.n_dims % 2 != 0)
        return r1_error_set(err, "%s.rope.dimension_count %d must be even and <= the head size %d", a,
                            hp->rope.n_dims, hp->head_dim);
    hp->rope.mode = hp->arch == R1_ARCH_QWEN2 ? R1_ROPE_NEOX : R1_ROPE_NORMAL;
    hp->rope.attn_factor = 1.0f;
    if (hp->arch == R1_ARCH_DEEPSEEK2) return r1_deepseek2_read_hparams(f, hp, err);
    return read_rope_scaling(f, hp, err);
}

/* ---- tensors ---- */

/* Binds tensor `name` with the given shape (see model_load.h). */
int r1_bind_tensor(const gguf_file *f, r1_tensor *t, const char *name, int64_t ne0, int64_t ne1, int64_t ne2,
                   r1_error *err) {
    const gguf_tensor *g = gguf_find_tensor(f, name);
    if (!g) return r1_error_set(err, "missing tensor '%s'", name);
    int want_dims = ne2 ? 3 : ne1 ? 2 : 1;
    int64_t got1 = g->n_dims >= 2 ? g->ne[1] : 0, got2 = g->n_dims >= 3 ? g->ne[2] : 0;
    if ((int)g->n_dims != want_dims || g->ne[0] != ne0 || got1 != ne1 || got2 != ne2)
        return r1_error_set(err, "tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64 "] (%u dims), expected [%"
                            PRId64 ", %" PRId64 ", %" PRId64 "]", name, g->ne[0], got1, got2, g->n_dims, ne0, ne1, ne2);
    if (!ne1 && g->type != R1_TYPE_F32)
        return r1_error_set(err, "tensor '%s' is %s; r1 expects norm and bias vectors in f32", name,
                            r1_type_get(g->type)->name);
    const r1_format_kernels *k = &r1_kernels()->format[g->type];
    if (ne1 && (!k->dot_f32 || !k->dequantize))
        return r1_error_set(err, "tensor '%s' uses format %s, which r1 cannot use for weights", name,
                            r1_type_get(g->type)->name);
    t->name = g->name;
    t->type = (r1_type)g->type;
    t->n_dims = (int)g->n_dims;
    for (int i = 0; i < 4; i++) t->ne[i] = g->ne[i];
    t->data = g->data;
    t->row_bytes = r1_row_bytes(t->type, t->ne[0]);
    return 0;
}

int r1_bind_layer_tensor(const gguf_file *f, r1_tensor *t, int layer, const char *suffix, int64_t ne0,
                         int64_t ne1, int64_t ne2, r1_error *err) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", layer, suffix);
    return r1_bind_tensor(f, t, name, ne0, ne1, ne2, err);
}

bool r1_has_layer_tensor(const gguf_file *f, int layer, const char *suffix) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", layer, suffix);
    return gguf_find_tensor(f, name) != NULL;
}

static int bind_llama_layer(const r1_model *m, int il, r1_llama_layer *l, r1_error *err) {
    const gguf_file *f = m->file;
    const r1_hparams *hp = &m->hp;
    int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    if (r1_bind_layer_tensor(f, &l->attn_norm, il, "attn_norm.weight", hp->n_embd, 0, 0, err) ||
        r1_bind_layer_tensor(f, &l->wq, il, "attn_q.weight", hp->n_embd, q_dim, 0, err) ||
        r1_bind_layer_tensor(f, &l->wk, il, "attn_k.weight", hp->n_embd, kv_dim, 0, err) ||
        r1_bind_layer_tensor(f, &l->wv, il, "attn_v.weight", hp->n_embd, kv_dim, 0, err) ||
        r1_bind_layer_tensor(f, &l->wo, il, "attn_output.weight", q_dim, hp->n_embd, 0, err) ||
        r1_bind_layer_tensor(f, &l->ffn_norm, il, "ffn_norm.weight", hp->n_embd, 0, 0, err) ||
        r1_bind_layer_tensor(f, &l->ffn_gate, il, "ffn_gate.weight", hp->n_embd, hp->n_ff, 0, err) ||
        r1_bind_layer_tensor(f, &l->ffn_up, il, "ffn_up.weight", hp->n_embd, hp->n_ff, 0, err) ||
        r1_bind_layer_tensor(f, &l->ffn_down, il, "ffn_down.weight", hp->n_ff, hp->n_embd, 0, err))
        return -1;
    char name[96];
    snprintf(name, sizeof name, "blk.%d.attn_q.bias", il);
    l->has_qkv_bias = gguf_find_tensor(f, name) != NULL;
    if (hp->arch == R1_ARCH_QWEN2 && !l->has_qkv_bias)
        return r1_error_set(err, "missing tensor '%s' (qwen2 has q/k/v biases)", name);
    if (l->has_qkv_bias &&
        (r1_bind_layer_tensor(f, &l->bq, il, "attn_q.bias", q_dim, 0, 0, err) ||
         r1_bind_layer_tensor(f, &l->bk, il, "attn_k.bias", kv_dim, 0, 0, err) ||
         r1_bind_layer_tensor(f, &l->bv, il, "attn_v.bias", kv_dim, 0, 0, err)))
        return -1;
    return 0;
}

static int bind_model_tensors(r1_model *m, r1_error *err) {
    const gguf_file *f = m->file;
    r1_hparams *hp = &m->hp;
    const gguf_tensor *embd = gguf_find_tensor(f, "token_embd.weight");
    if (!embd) return r1_error_set(err, "missing tensor 'token_embd.weight'");
    if (embd->n_dims != 2 || embd->ne[1] < 1 || embd->ne[1] > (1 << 24))
        return r1_error_set(err, "tensor 'token_embd.weight' must be 2-D with a vocabulary of 1..2^24 rows");
    hp->n_vocab = (int)embd->ne[1];
    if (hp->bos_token >= hp->n_vocab) hp->bos_token = -1;
    if (hp->eos_token >= hp->n_vocab) hp->eos_token = -1;
    if (r1_bind_tensor(f, &m->token_embd, "token_embd.weight", hp->n_embd, hp->n_vocab, 0, err) ||
        r1_bind_tensor(f, &m->output_norm, "output_norm.weight", hp->n_embd, 0, 0, err))
        return -1;
    m->tied_output = gguf_find_tensor(f, "output.weight") == NULL;
    if (m->tied_output) m->output = m->token_embd;
    else if (r1_bind_tensor(f, &m->output, "output.weight", hp->n_embd, hp->n_vocab, 0, err)) return -1;

    /* Llama 3 stores its frequency-dependent RoPE scaling as a tensor. */
    const gguf_tensor *freqs = gguf_find_tensor(f, "rope_freqs.weight");
    if (freqs) {
        if (freqs->type != R1_TYPE_F32 || freqs->n_dims != 1 || freqs->ne[0] != hp->rope.n_dims / 2)
            return r1_error_set(err, "tensor 'rope_freqs.weight' must be f32 with %d values", hp->rope.n_dims / 2);
        hp->rope.freq_factors = freqs->data;
    }
    if (hp->arch == R1_ARCH_DEEPSEEK2) return r1_deepseek2_bind_layers(m, err);
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return r1_error_set(err, "out of memory");
    for (int il = 0; il < hp->n_layer; il++)
        if (bind_llama_layer(m, il, &m->layers[il], err) != 0) return -1;
    return 0;
}

static void count_weights(r1_model *m) {
    for (uint64_t i = 0; i < m->file->n_tensors; i++) {
        const gguf_tensor *t = &m->file->tensors[i];
        m->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        m->weight_bytes += t->size;
    }
}

/* Bytes of memory available for new allocations (MemAvailable), or 0. */
static uint64_t available_memory(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    fclose(f);
    return (uint64_t)kib * 1024;
}

static r1_load_mode choose_load_mode(const char *path, r1_load_mode requested) {
    if (requested != R1_LOAD_AUTO) return requested;
    const char *env = getenv("R1_LOAD");
    if (env && strcmp(env, "mmap") == 0) return R1_LOAD_MMAP;
    if (env && strcmp(env, "copy") == 0) return R1_LOAD_COPY;
    struct stat st;
    if (stat(path, &st) != 0) return R1_LOAD_MMAP; /* gguf_open reports the problem */
    return (uint64_t)st.st_size <= available_memory() / 2 ? R1_LOAD_COPY : R1_LOAD_MMAP;
}

int r1_model_load(const char *path, r1_model **out, r1_error *err) {
    return r1_model_load_ex(path, NULL, out, err);
}

/* A sealed file: its key, then the plaintext in locked anonymous memory,
 * which the GGUF reader takes over. */
static int open_sealed(const char *path, const r1_model_params *params, gguf_file **out, r1_error *err) {
    r1_seal_key_source src = {0};
    if (params) src = (r1_seal_key_source){params->key, params->key_len, params->key_file, params->key_command};
    r1_seal_key key;
    int have = r1_seal_key_resolve(&src, &key, err);
    if (have == 0)
        return r1_error_set(err, "%s is a sealed model file: give its key (--key-file, --key-command or "
                            "R1_MODEL_KEY_FILE)", path);
    if (have < 0) return -1;
    r1_secure_buffer plain;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = r1_seal_decrypt_file(path, &key, params ? params->n_threads : 0, &plain, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    char id[2 * R1_SEAL_KEY_ID_BYTES + 1];
    r1_seal_key_id_hex(key.id, id);
    r1_seal_key_wipe(&key);
    if (rc != 0) return -1;
    /* an operator sees that the model came sealed, under which key, and whether it is kept out of swap */
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    r1_log_info("%s: sealed model (key id %s) decrypted into %s memory: %.2f GB in %.2f s (%.2f GB/s)", path, id,
                plain.locked ? "locked" : "unlocked", (double)plain.size / 1e9, s, (double)plain.size / 1e9 / s);
    return gguf_open_owned(plain.data, plain.size, plain.map_size, path, out, err);
}

static int open_file(const char *path, const r1_model_params *params, gguf_file **out, r1_error *err) {
    if (r1_seal_probe_file(path)) return open_sealed(path, params, out, err);
    r1_load_mode mode = choose_load_mode(path, params ? params->load : R1_LOAD_AUTO);
    return mode == R1_LOAD_COPY ? gguf_open_copy(path, out, err) : gguf_open(path, out, err);
}

/* ---- interleaving the products' weights ---- */

static bool interleave_wanted(const r1_model *m, const r1_tensor *t) {
    const r1_format_kernels *k = &r1_kernels()->format[t->type];
    return m->file->private_memory && k->gemm_x16 && t->n_dims == 2 && t->layout == R1_LAYOUT_ROWS &&
           r1_x16_possible(t->type, t->ne[0], t->ne[1]);
}

static int interleave_tensor(r1_model *m, r1_tensor *t, uint64_t *bytes) {
    if (!interleave_wanted(m, t)) return 0;
    if (r1_x16_interleave(t->type, (void *)t->data, t->ne[0], t->ne[1]) != 0) return -1;
    t->layout = R1_LAYOUT_X16;
    *bytes += (uint64_t)t->ne[1] * t->row_bytes;
    return 0;
}

/*
 * Rewrites the weights of the dense models' matrix products (attention,
 * feed-forward, output) into the 16-row interleaved layout that the AVX-512
 * and AVX2 products read fastest (tensor/interleave.h): batched decode and prefill
 * no longer rearrange them on every call. Only where r1 holds the model in
 * its own memory (not a file mapping, which would turn every page into a
 * private copy), and only when the kernels have such a product. The
 * environment variable R1_INTERLEAVE=0 keeps the file's layout (for
 * comparisons).
 */
static int interleave_weights(r1_model *m, r1_error *err) {
    const char *env = getenv("R1_INTERLEAVE");
    if ((env && strcmp(env, "0") == 0) || !m->file->private_memory || m->hp.arch == R1_ARCH_DEEPSEEK2) return 0;
    if (gguf_make_writable(m->file, true) != 0) return 0; /* then the file's layout it is */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t bytes = 0;
    int rc = 0;
    for (int il = 0; il < m->hp.n_layer && rc == 0; il++) {
        r1_llama_layer *l = &m->layers[il];
        r1_tensor *products[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->ffn_gate, &l->ffn_up, &l->ffn_down};
        for (size_t i = 0; i < sizeof products / sizeof *products && rc == 0; i++)
            rc = interleave_tensor(m, products[i], &bytes);
    }
    if (rc == 0 && !m->tied_output) rc = interleave_tensor(m, &m->output, &bytes);
    if (gguf_make_writable(m->file, false) != 0 && rc == 0) rc = -1;
    if (rc != 0) return r1_error_set(err, "out of memory while interleaving the weights");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (bytes)
        r1_log_debug("interleaved %.2f GB of weights for the %s products in %.2f s", (double)bytes / 1e9,
                     r1_kernels()->name, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
    return 0;
}

int r1_model_load_ex(const char *path, const r1_model_params *params, r1_model **out, r1_error *err) {
    *out = NULL;
    r1_model *m = calloc(1, sizeof *m);
    if (!m) return r1_error_set(err, "%s: out of memory", path);
    if (open_file(path, params, &m->file, err) != 0) {
        free(m);
        return -1;
    }
    if (read_arch(m->file, &m->hp, err) != 0 || read_hparams(m->file, &m->hp, err) != 0 ||
        bind_model_tensors(m, err) != 0 || interleave_weights(m, err) != 0) {
        r1_error_prefix(err, "%s", path);
        r1_model_free(m);
        return -1;
    }
    count_weights(m);
    *out = m;
    return 0;
}

void r1_model_free(r1_model *m) {
    if (!m) return;
    r1_deepseek2_free_layers(m);
    gguf_close(m->file);
    free(m->layers);
    free(m);
}

uint64_t r1_model_bytes_per_token(const r1_model *m) {
    uint64_t bytes = m->weight_bytes;
    if (!m->tied_output) bytes -= (uint64_t)m->token_embd.row_bytes * (uint64_t)(m->hp.n_vocab - 1);
    return bytes;
}
