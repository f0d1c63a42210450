// transcriptions.test.mjs - r1 serve's speech endpoints through the official
// `openai` client, as an application would call them:
// client.audio.transcriptions.create / client.audio.translations.create with
// a file stream or toFile(buffer), each response_format, language, and the
// errors the client turns into exceptions. The Whisper model has random
// weights: its text means nothing, so formats, times and equalities are
// checked. Most calls say temperature 1 (one decoding try, no fallback:
// fast). Run by tests/server/test_openai_audio.sh (R1_URL, R1_AUDIO and
// R1_SPEECH_MODEL set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';

const BASE = process.env.R1_URL;
const AUDIO = process.env.R1_AUDIO;
const SPEECH_MODEL = process.env.R1_SPEECH_MODEL;
if (!BASE || !AUDIO || !SPEECH_MODEL) throw new Error('R1_URL, R1_AUDIO and R1_SPEECH_MODEL must be set');

const client = new OpenAI({ baseURL: BASE + '/v1', apiKey: 'none', maxRetries: 0, timeout: 120000 });
const clip = (name) => path.join(AUDIO, name);
const fox = () => fs.createReadStream(clip('en_fox.wav'));
const FOX_SECONDS = 3.44; // en_fox.wav: 55014 samples at 16 kHz
const fast = { temperature: 1 };

let plainText; // the json answer, compared with the other formats

test('models.list: the speech model is listed next to the chat model', async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    assert.ok(ids.includes(SPEECH_MODEL), `${SPEECH_MODEL} in ${ids}`);
    const m = await client.models.retrieve(SPEECH_MODEL);
    assert.equal(m.object, 'model');
});

test('transcriptions.create: a file stream, model whisper-1, gives {text}', async () => {
    const r = await client.audio.transcriptions.create({ file: fox(), model: 'whisper-1', ...fast });
    assert.deepEqual(Object.keys(r), ['text']);
    assert.equal(typeof r.text, 'string');
    assert.equal(r.text, r.text.trim(), 'the text is trimmed');
    plainText = r.text;
});

test('transcriptions.create: toFile(buffer) and the model named after its file give the same text', async () => {
    const file = await toFile(fs.readFileSync(clip('en_fox.wav')), 'fox.wav', { type: 'audio/wav' });
    const r = await client.audio.transcriptions.create({ file, model: SPEECH_MODEL, ...fast });
    assert.ok(plainText !== undefined, 'the first transcription ran');
    assert.equal(r.text, plainText, 'the same upload gives the same text');
});

test('verbose_json: language, duration and timed segments whose texts make the text', async () => {
    const r = await client.audio.transcriptions.create({
        file: fox(), model: 'whisper-1', response_format: 'verbose_json', timestamp_granularities: ['segment'],
        language: 'en', ...fast,
    });
    assert.equal(r.language, 'english');
    assert.ok(Math.abs(r.duration - FOX_SECONDS) < 0.05, `duration ${r.duration}`);
    assert.ok(Array.isArray(r.segments) && r.segments.length > 0, 'segments');
    let previousEnd = 0;
    r.segments.forEach((s, i) => {
        assert.equal(s.id, i);
        assert.ok(s.start >= previousEnd - 1e-6 && s.start <= s.end && s.end <= r.duration + 1e-6,
            `segment ${i}: ${s.start}..${s.end} within 0..${r.duration}, after ${previousEnd}`);
        assert.equal(typeof s.text, 'string');
        assert.ok(Array.isArray(s.tokens), 'tokens');
        for (const k of ['temperature', 'avg_logprob', 'no_speech_prob'])
            assert.equal(typeof s[k], 'number', `segment ${i}.${k}`);
        previousEnd = s.end;
    });
    assert.equal(r.segments.map((s) => s.text).join('').trim(), r.text);
});

test("response_format 'text' and 'srt' are strings; 'vtt' starts with WEBVTT", async () => {
    const text = await client.audio.transcriptions.create({ file: fox(), model: 'whisper-1', response_format: 'text', ...fast });
    assert.equal(typeof text, 'string');
    assert.equal(text, plainText + '\n');
    const srt = await client.audio.transcriptions.create({ file: fox(), model: 'whisper-1', response_format: 'srt', ...fast });
    assert.equal(typeof srt, 'string');
    assert.match(srt, /^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n/);
    const vtt = await client.audio.transcriptions.create({ file: fox(), model: 'whisper-1', response_format: 'vtt', ...fast });
    assert.equal(typeof vtt, 'string');
    assert.match(vtt, /^WEBVTT\n\n\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n/);
});

test('language zh on Mandarin audio', async () => {
    const r = await client.audio.transcriptions.create({
        file: fs.createReadStream(clip('zh_document.wav')), model: 'whisper-1', language: 'zh',
        response_format: 'verbose_json', ...fast,
    });
    assert.equal(r.language, 'chinese');
    assert.equal(typeof r.text, 'string');
});

test('translations.create gives {text}', async () => {
    const r = await client.audio.translations.create({
        file: fs.createReadStream(clip('en_alarm.wav')), model: 'whisper-1', ...fast,
    });
    assert.equal(typeof r.text, 'string');
});

test('errors: a file that is not audio is a BadRequestError (400, invalid_audio, param file)', async () => {
    const file = await toFile(Buffer.from('this is a text file, not a recording\n'), 'notes.wav');
    await assert.rejects(client.audio.transcriptions.create({ file, model: 'whisper-1' }), (e) => {
        assert.ok(e instanceof OpenAI.APIError, `an APIError: ${e}`);
        assert.ok(e instanceof OpenAI.BadRequestError, `a BadRequestError: ${e}`);
        assert.equal(e.status, 400);
        assert.equal(e.code, 'invalid_audio');
        assert.equal(e.param, 'file');
        assert.equal(e.type, 'invalid_request_error');
        assert.match(e.message, /audio/);
        return true;
    });
});

test('errors: an unknown model is a NotFoundError; language zz a BadRequestError', async () => {
    await assert.rejects(client.audio.transcriptions.create({ file: fox(), model: 'gpt-4o-transcribe' }),
        (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
    await assert.rejects(client.audio.transcriptions.create({ file: fox(), model: 'whisper-1', language: 'zz' }),
        (e) => e instanceof OpenAI.BadRequestError && e.param === 'language' && e.code === 'invalid_language');
    await assert.rejects(
        client.audio.transcriptions.create({ file: fox(), model: 'whisper-1', timestamp_granularities: ['word'], response_format: 'verbose_json' }),
        (e) => e instanceof OpenAI.BadRequestError && e.param === 'timestamp_granularities[]');
});

test('after the errors the server still transcribes the same text', async () => {
    const r = await client.audio.transcriptions.create({ file: fox(), model: 'whisper-1', ...fast });
    assert.equal(r.text, plainText);
});
