/*
 * tts_voices.c - the voice table (tts_voices.h).
 *
 * Why "cmn-latn-pinyin" for Mandarin: it reads Han characters as Mandarin
 * with tones and Latin words as English, so mixed sentences ("打开 GPU
 * server 的日志") come out right; the plain "cmn" voice reads Latin letters
 * as pinyin. The English variants follow the character of OpenAI's voices
 * (onyx deep, fable British, nova and shimmer female) as far as formant
 * synthesis goes.
 */
#include "speech/tts_voices.h"

#include <stddef.h>
#include <string.h>

#include "r1.h"

static const tts_voice voices[] = {
    {"alloy", "en-us+m3", "cmn-latn-pinyin+m3", 50},   {"ash", "en-us+m1", "cmn-latn-pinyin+m1", 45},
    {"ballad", "en-gb+m4", "cmn-latn-pinyin+m4", 50},  {"coral", "en-us+f2", "cmn-latn-pinyin+f2", 55},
    {"echo", "en-us+m2", "cmn-latn-pinyin+m2", 50},    {"fable", "en-gb+m1", "cmn-latn-pinyin+m1", 55},
    {"nova", "en-us+f3", "cmn-latn-pinyin+f3", 60},    {"onyx", "en-us+m7", "cmn-latn-pinyin+m7", 30},
    {"sage", "en-us+f4", "cmn-latn-pinyin+f4", 50},    {"shimmer", "en-us+f1", "cmn-latn-pinyin+f1", 65},
    {"verse", "en-us+m5", "cmn-latn-pinyin+m5", 50},
};

static const char *const names[] = {"alloy", "ash",  "ballad", "coral",   "echo",  "fable",
                                    "nova",  "onyx", "sage",   "shimmer", "verse", NULL};

const tts_voice *tts_voice_find(const char *name) {
    for (size_t i = 0; name && i < sizeof voices / sizeof voices[0]; i++)
        if (strcmp(voices[i].name, name) == 0) return &voices[i];
    return NULL;
}

const char *const *r1_tts_voices(void) { return names; }

bool r1_tts_voice_known(const char *name) { return tts_voice_find(name) != NULL; }
