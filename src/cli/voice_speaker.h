/*
 * voice_speaker.h - the answer of `r1 voice` spoken while the model is
 * still writing it.
 *
 * The answer's text is fed as it streams in; each sentence is queued as
 * soon as it is complete (tts_sentence_end) and a thread synthesises the
 * queue in order (r1_tts_speak, in the r1-tts-worker process), handing the
 * audio to a sink (the speaker or a file encoder). Generation and speech
 * thus overlap: the first sentence sounds while the second is written.
 * One voice_speaker speaks one answer.
 */
#ifndef R1_CLI_VOICE_SPEAKER_H
#define R1_CLI_VOICE_SPEAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "r1.h"

/* Receives audio at r1_tts_sample_rate(); nonzero (with err) is a failure
 * that ends the speech. Runs on the speaker's thread. */
typedef int (*voice_audio_fn)(void *user, const int16_t *samples, size_t n, r1_error *err);

typedef struct voice_speaker_params {
    r1_tts *tts;
    const char *voice; /* NULL: the default */
    float speed;       /* 0: normal */
    voice_audio_fn on_audio;
    void *user;
    bool verbose;      /* "speaking: SENTENCE" on stderr for every sentence sent to the synthesiser */
} voice_speaker_params;

/* When things happened (cli_now() seconds; 0: never). */
typedef struct voice_speech_figures {
    double first_sentence; /* the first sentence was complete and queued */
    double first_audio;    /* its first samples reached the sink */
    size_t n_samples;      /* at the synthesiser's rate */
    int n_sentences;
    bool stopped;          /* voice_speaker_stop was called */
} voice_speech_figures;

typedef struct voice_speaker voice_speaker;

/* Starts the thread. NULL with err when it cannot. */
voice_speaker *voice_speaker_start(const voice_speaker_params *p, r1_error *err);
/* More of the answer's text (any split, even inside a UTF-8 character). */
void voice_speaker_feed(voice_speaker *s, const char *text, size_t len);
/* No more text: the rest, even without a sentence end, is the last sentence. */
void voice_speaker_end_text(voice_speaker *s);
/* Barge-in: drops the queued sentences and stops the one being spoken. */
void voice_speaker_stop(voice_speaker *s);
/* Whether everything fed so far has been spoken (or stopped). */
bool voice_speaker_idle(voice_speaker *s);
/* Ends the text (if not yet), waits until it is spoken, ends the thread and
 * frees s. 0, or -1 with err (synthesis or the sink failed). */
int voice_speaker_finish(voice_speaker *s, voice_speech_figures *figures, r1_error *err);

#endif
