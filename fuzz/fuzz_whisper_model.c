/*
 * fuzz_whisper_model.c - libFuzzer harness for the Whisper model loader
 * (src/model/whisper_load.c): arbitrary bytes through
 * whisper_model_load_memory. A load either fails with a message or gives
 * a model whose every promised tensor is inside the weights and whose
 * vocabulary has its special ids in range; the loader must never read
 * past the input or leak.
 *
 * Seeds: fuzz/corpus-whisper_model (the start of a real file: hparams,
 * filters, the first tokens). Run: fuzz/run-fuzz.sh 60 ../shared/testdata whisper_model
 */
#include <stdint.h>
#include <string.h>

#include "model/whisper.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static volatile float sink;

static void check_tensor(const whisper_model *m, const r1_tensor *t) {
    check(t->data != NULL);
    size_t bytes = t->row_bytes * (size_t)(t->ne[1] * t->ne[2]);
    const uint8_t *p = t->data, *base = m->weights;
    check(p >= base && p + bytes <= base + m->weights_size);
    sink += (float)p[0] + (float)p[bytes - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    whisper_model m;
    r1_error err = {{0}};
    if (whisper_model_load_memory(data, size, &m, &err) != 0) {
        check(err.message[0] != '\0');
        return 0;
    }
    check_tensor(&m, &m.conv1_w);
    check_tensor(&m, &m.token_embedding);
    check_tensor(&m, &m.dec_ln_b);
    for (int i = 0; i < m.hp.n_audio_layer; i++) check_tensor(&m, &m.enc_blocks[i].mlp_fc2_w);
    for (int i = 0; i < m.hp.n_text_layer; i++) check_tensor(&m, &m.dec_blocks[i].cross_v_b);
    check(m.vocab.sot > 0 && m.vocab.sot < m.hp.n_vocab && m.vocab.timestamp_begin < m.hp.n_vocab);
    for (int i = 0; i < m.hp.n_vocab; i++) check(m.vocab.text[i] != NULL && m.vocab.len[i] >= 0);
    whisper_model_free(&m);
    return 0;
}
