/*
 * cmd_model.c - `r1 model`: working with model files.
 *
 *   r1 model gen --shape NAME --type TYPE [--seed S] [-t THREADS] -o FILE.gguf
 *       writes a random-weight model of a real model's shape (see
 *       docs/MODEL-GEN.md); `r1 model gen --list` lists the shapes.
 *   r1 model gen --arch whisper --shape NAME [--type f32|f16] [--seed N]
 *                [--vocab-from FILE.bin] -o FILE.bin
 *       writes a random-weight Whisper model in whisper.cpp's ggml format
 *       (src/model/whisper_gen.h).
 *   r1 model info -m FILE.gguf [--key-file K]
 *       checks a model file completely and prints what it holds.
 *   r1 model seal|open|verify|keygen ...
 *       sealed (encrypted) model files: cmd_seal.c.
 *   r1 model manifest|verify-manifest ..., r1 model verify DIR
 *       SHA-256 manifests of a model store, per file and chunk: cmd_manifest.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "model/random_model.h"
#include "model/whisper_gen.h"

static void model_usage(void) {
    fprintf(stderr,
            "usage: r1 model gen --shape NAME --type f32|f16|q8_0|q4_0|q4_k_m|q6_k [--seed S]\n"
            "                    [--arch ARCH] [-t THREADS] [--script TEXT] -o FILE.gguf\n"
            "       r1 model gen --list\n"
            "       r1 model gen --arch whisper --shape tiny|base|small|medium|large-v2 [--type f32|f16]\n"
            "                    [--seed S] [--vocab-from FILE.bin] -o FILE.bin\n"
            "       r1 model info -m FILE.gguf [--key-file K | --key-command CMD]\n"
            "       r1 model seal IN.gguf OUT.sealed --key-file K [--chunk-size BYTES] [--key-id TEXT]\n"
            "       r1 model open IN.sealed OUT.gguf --key-file K\n"
            "       r1 model verify FILE [--sha256 HEX | --manifest FILE.sha256] [--key-file K]\n"
            "       r1 model keygen -o KEYFILE [--hex]\n"
            "       r1 model manifest DIR|FILE [-o MANIFEST] [--chunk-size 64M]\n"
            "       r1 model verify-manifest MANIFEST [DIR] [--fast [--sample N]]\n"
            "       r1 model verify DIR [--manifest MANIFEST] [--fast]\n");
}

static void list_shapes(void) {
    for (const r1_model_shape *s = r1_model_shapes(); s->name; s++)
        printf("%-22s %-6s vocab %6d  embd %5d  layers %3d  heads %2d/%d  ff %5d\n", s->name, s->arch,
               s->n_vocab, s->n_embd, s->n_layer, s->n_head, s->n_head_kv, s->n_ff);
}

static void list_whisper_shapes(void) {
    for (const whisper_gen_shape *s = whisper_gen_shapes(); s->name; s++)
        printf("%-10s whisper  vocab %5d  state %4d  heads %2d  layers %2d+%-2d  audio ctx %d  text ctx %d\n", s->name,
               s->hparams.n_vocab, s->hparams.n_audio_state, s->hparams.n_audio_head, s->hparams.n_audio_layer,
               s->hparams.n_text_layer, s->hparams.n_audio_ctx, s->hparams.n_text_ctx);
}

/* `r1 model gen --arch whisper ...`: its own options (ggml .bin, not GGUF). */
static int model_gen_whisper(int argc, char **argv) {
    const char *shape_name = NULL, *type = "f16";
    whisper_gen_options opt = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--list") == 0) { list_whisper_shapes(); return 0; }
        if (!(v = arg_value(argc, argv, &i))) return 2;
        if (strcmp(a, "--shape") == 0) shape_name = v;
        else if (strcmp(a, "--type") == 0) type = v;
        else if (strcmp(a, "--arch") == 0) continue; /* "whisper": how we got here */
        else if (strcmp(a, "--vocab-from") == 0) opt.vocab_from = v;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) opt.path = v;
        else if (strcmp(a, "--seed") == 0) { if (arg_u64(a, v, &opt.seed)) return 2; }
        else { fprintf(stderr, "r1 model gen --arch whisper: unknown option '%s'\n", a); model_usage(); return 2; }
    }
    if (!shape_name || !opt.path) {
        fprintf(stderr, "r1 model gen --arch whisper: --shape and -o are required\n");
        return 2;
    }
    const whisper_gen_shape *shape = whisper_gen_shape_find(shape_name);
    if (!shape) {
        fprintf(stderr, "r1 model gen --arch whisper: unknown shape '%s'; the shapes are:\n", shape_name);
        list_whisper_shapes();
        return 2;
    }
    static const struct { const char *name; int ftype; } types[] = {
        {"f32", 0}, {"f16", 1}, {"q4_0", 2002}, {"q4_1", 2003}, {"q8_0", 2007}, {"q5_0", 2008}, {"q5_1", 2009}};
    opt.ftype = -1;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(type, types[i].name) == 0) opt.ftype = types[i].ftype;
    if (opt.ftype < 0) {
        fprintf(stderr, "r1 model gen --arch whisper: --type '%s': Whisper files are f32, f16, q4_0, q4_1, q5_0, "
                        "q5_1 or q8_0\n", type);
        return 2;
    }
    opt.hparams = shape->hparams;
    r1_error err;
    double t0 = cli_now();
    if (whisper_gen_write(&opt, &err) != 0) {
        fprintf(stderr, "r1 model gen: %s\n", err.message);
        return 1;
    }
    fprintf(stderr, "r1 model gen: wrote %s (whisper %s, %s, seed %llu, %d tensors) in %.1f s\n", opt.path,
            shape->name, type, (unsigned long long)opt.seed, whisper_gen_tensor_count(&opt.hparams), cli_now() - t0);
    return 0;
}

/* True when the options hold "--arch whisper". */
static bool wants_whisper(int argc, char **argv) {
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], "--arch") == 0 && strcmp(argv[i + 1], "whisper") == 0) return true;
    return false;
}

static int model_gen(int argc, char **argv) {
    if (wants_whisper(argc, argv)) return model_gen_whisper(argc, argv);
    const char *shape_name = NULL, *type = "f16", *out = NULL, *arch = NULL;
    uint64_t seed = 0;
    const char *script = NULL; /* tiny shapes: greedy answer to any prompt ending in a newline */
    int threads = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--list") == 0) { list_shapes(); return 0; }
        if (!(v = arg_value(argc, argv, &i))) return 2;
        if (strcmp(a, "--shape") == 0) shape_name = v;
        else if (strcmp(a, "--type") == 0) type = v;
        else if (strcmp(a, "--arch") == 0) arch = v;
        else if (strcmp(a, "--script") == 0) script = v;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) out = v;
        else if (strcmp(a, "--seed") == 0) { if (arg_u64(a, v, &seed)) return 2; }
        else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) { if (arg_int(a, v, 1, 1024, &threads)) return 2; }
        else { fprintf(stderr, "r1 model gen: unknown option '%s'\n", a); model_usage(); return 2; }
    }
    if (!shape_name || !out) {
        fprintf(stderr, "r1 model gen: --shape and -o are required (shapes: r1 model gen --list)\n");
        return 2;
    }
    const r1_model_shape *shape = r1_model_shape_find(shape_name);
    if (!shape) {
        fprintf(stderr, "r1 model gen: unknown shape '%s'; the shapes are:\n", shape_name);
        list_shapes();
        return 2;
    }
    if (arch && strcmp(arch, shape->arch) != 0) {
        fprintf(stderr, "r1 model gen: shape '%s' is a %s model, not %s\n", shape->name, shape->arch, arch);
        return 2;
    }
    r1_error err;
    double t0 = cli_now();
    int rc = script ? r1_model_generate_scripted(shape, type, seed, script, out, threads, &err)
                    : r1_model_generate(shape, type, seed, out, threads, &err);
    if (rc != 0) {
        fprintf(stderr, "r1 model gen: %s\n", err.message);
        return 1;
    }
    fprintf(stderr, "r1 model gen: wrote %s (%s, %s, seed %llu) in %.1f s\n", out, shape->name, type,
            (unsigned long long)seed, cli_now() - t0);
    return 0;
}

static int model_info(int argc, char **argv) {
    const char *path = NULL;
    cli_key_options key = {0};
    for (int i = 0; i < argc; i++) {
        const char *v;
        if (!(v = arg_value(argc, argv, &i))) return 2;
        if (cli_key_option(argv[i - 1], v, &key)) continue;
        if (strcmp(argv[i - 1], "-m") == 0 || strcmp(argv[i - 1], "--model") == 0) path = v;
        else { fprintf(stderr, "r1 model info: unknown option '%s'\n", argv[i - 1]); return 2; }
    }
    if (!path) { model_usage(); return 2; }
    r1_model *model;
    r1_error err;
    r1_model_params mp = {.key_file = key.file, .key_command = key.command};
    if (r1_model_load_ex(path, &mp, &model, &err) != 0) {
        fprintf(stderr, "r1: %s\n", err.message);
        return 1;
    }
    r1_model_info info;
    r1_model_get_info(model, &info);
    printf("{\"arch\": \"%s\", \"file_type\": \"%s\", \"n_vocab\": %d, \"n_embd\": %d, \"n_layer\": %d, \"n_head\": %d, "
           "\"n_head_kv\": %d, \"n_ctx_train\": %d, \"n_params\": %llu, \"weight_bytes\": %llu, "
           "\"bytes_per_token\": %llu, \"bos_token\": %d, \"eos_token\": %d}\n",
           info.arch, info.file_type, info.n_vocab, info.n_embd, info.n_layer, info.n_head, info.n_head_kv, info.n_ctx_train,
           (unsigned long long)info.n_params, (unsigned long long)info.weight_bytes,
           (unsigned long long)info.bytes_per_token, info.bos_token, info.eos_token);
    r1_model_free(model);
    return 0;
}

int cmd_model(int argc, char **argv) {
    if (argc < 1) { model_usage(); return 2; }
    if (strcmp(argv[0], "gen") == 0) return model_gen(argc - 1, argv + 1);
    if (strcmp(argv[0], "info") == 0) return model_info(argc - 1, argv + 1);
    int rc = cmd_model_manifest(argv[0], argc - 1, argv + 1);
    if (rc >= 0) return rc;
    rc = cmd_model_sealed(argv[0], argc - 1, argv + 1);
    if (rc >= 0) return rc;
    fprintf(stderr, "r1 model: unknown sub-command '%s'\n", argv[0]);
    model_usage();
    return 2;
}
