/*
 * fuzz_tts_text.c - libFuzzer harness for the text that speech synthesis
 * is given (src/speech/tts_text.c): whatever a user or a model writes.
 *
 * The input is cut into sentences twice: as a complete text (every byte
 * must land in exactly one sentence, each at least one byte long) and as a
 * stream that grows a byte at a time (a sentence let out early must be the
 * one the complete text gives, but for trailing spaces not yet arrived, so
 * speaking while the model writes says the same as speaking at the end). Each sentence is then normalised: valid
 * UTF-8 out, no control characters, a bounded growth.
 *
 * Build: cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14
 * Run:   ./build-fuzz/fuzz_tts_text -max_total_time=60 fuzz/corpus-tts_text
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "speech/tts_text.h"
#include "text/tokenizer.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static void check_normalized(const char *sentence, size_t len) {
    bool mandarin;
    char *spoken = tts_normalize(sentence, len, &mandarin);
    check(spoken != NULL);
    size_t n = strlen(spoken);
    check(n <= 8 * len + 16);
    for (size_t i = 0; i < n;) {
        int k = r1_utf8_char_len(spoken + i, n - i);
        check(k > 0);
        check((unsigned char)spoken[i] >= 0x20 || spoken[i] == ' ');
        i += (size_t)k;
    }
    free(spoken);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    const char *text = (const char *)data;
    /* the complete text: a partition into sentences */
    size_t ends[4097], n_ends = 0;
    for (size_t pos = 0; pos < size;) {
        size_t end = tts_sentence_end(text + pos, size - pos, true);
        check(end > 0 && end <= size - pos);
        check_normalized(text + pos, end);
        pos += end;
        ends[n_ends++] = pos;
    }
    /* the same text arriving a byte at a time: sentences let out early are
     * the complete text's sentences */
    size_t start = 0, k = 0;
    for (size_t have = 1; have <= size; have++) {
        size_t end;
        while (start < have && (end = tts_sentence_end(text + start, have - start, false)) > 0) {
            check(end <= have - start);
            /* the same sentence, but for spaces after it that had not all
             * arrived yet (they then lead the next one) */
            check(k < n_ends && start + end <= ends[k]);
            for (size_t i = start + end; i < ends[k]; i++)
                check(text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r');
            start += end;
            k++;
        }
    }
    return 0;
}
