/*
 * tts_voices.h - the voices r1 speaks with: OpenAI's voice names, each an
 * espeak-ng variant (a formant voice: male m1..m7, female f1..f4) for
 * English and the same variant of the Mandarin voice.
 */
#ifndef R1_SPEECH_TTS_VOICES_H
#define R1_SPEECH_TTS_VOICES_H

typedef struct tts_voice {
    const char *name;     /* as the API names it: "alloy" */
    const char *english;  /* espeak-ng voice for English sentences: "en-us+m3" */
    const char *mandarin; /* for sentences with Han characters: "cmn-latn-pinyin+m3" */
    int pitch;            /* espeak-ng's 0..99 (50 is its default) */
} tts_voice;

/* The voice called name, or NULL. */
const tts_voice *tts_voice_find(const char *name);

#endif
