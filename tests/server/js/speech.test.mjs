// speech.test.mjs - r1 serve's /v1/audio/speech through the official
// `openai` client, as an application would call it: audio.speech.create
// for each format the server offers, the audio read whole and as a stream
// (it arrives in several chunks), and the refusals as APIError with
// OpenAI's status, code and param. Run by tests/server/test_speech.sh
// (R1_URL set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const BASE = process.env.R1_URL;
if (!BASE) throw new Error('R1_URL must be set');
const client = new OpenAI({ baseURL: BASE + '/v1', apiKey: 'none', maxRetries: 0, timeout: 60000 });

const TEXT = 'Hello from r1. This sentence is spoken by espeak-ng. 你好，世界。';
const magic = { wav: 'RIFF', flac: 'fLaC', opus: 'OggS' };

for (const format of ['wav', 'flac', 'opus', 'pcm']) {
    test(`audio.speech.create: response_format ${format}`, async () => {
        const r = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: TEXT, response_format: format });
        assert.equal(r.status, 200);
        const type = r.headers.get('content-type');
        assert.ok(type.startsWith(format === 'opus' ? 'audio/ogg' : `audio/${format}`), type);
        const audio = Buffer.from(await r.arrayBuffer());
        if (magic[format]) assert.equal(audio.subarray(0, 4).toString('latin1'), magic[format]);
        if (format === 'pcm') {
            // 16-bit samples at 24 kHz: more than a second of sound, not silence
            assert.equal(audio.length % 2, 0);
            assert.ok(audio.length / 2 / 24000 > 1.5, `${audio.length} bytes`);
            let peak = 0;
            for (let i = 0; i < audio.length; i += 2) peak = Math.max(peak, Math.abs(audio.readInt16LE(i)));
            assert.ok(peak > 3000 && peak < 32767, `peak ${peak}`);
        }
    });
}

test('the audio streams: the body arrives in several chunks', async () => {
    const long = Array.from({ length: 12 }, (_, i) => `This is sentence number ${i + 1} of a long answer.`).join(' ');
    const r = await client.audio.speech.create({ model: 'tts-1', voice: 'nova', input: long, response_format: 'pcm' });
    let chunks = 0, bytes = 0;
    for await (const chunk of r.body) {
        chunks++;
        bytes += chunk.length;
    }
    assert.ok(chunks > 1, `${chunks} chunk(s)`);
    assert.ok(bytes / 2 / 24000 > 20, `${bytes} bytes`);
});

test('speed 2 gives shorter audio than speed 0.5', async () => {
    const length = async (speed) => {
        const r = await client.audio.speech.create({ model: 'tts-1', voice: 'echo', input: TEXT, response_format: 'pcm', speed });
        return (await r.arrayBuffer()).byteLength;
    };
    const fast = await length(2), slow = await length(0.5);
    assert.ok(fast * 2 < slow, `speed 2: ${fast} bytes, speed 0.5: ${slow} bytes`);
});

const refusals = [
    ['an unknown voice', { voice: 'bob' }, 400, 'voice', 'invalid_value'],
    ['empty input', { input: '' }, 400, 'input', 'invalid_value'],
    ['input over 4096 characters', { input: 'x'.repeat(4097) }, 400, 'input', 'invalid_value'],
    ['mp3', { response_format: 'mp3' }, 400, 'response_format', 'unsupported_value'],
    ['an unknown model', { model: 'tts-2' }, 404, 'model', 'model_not_found'],
];
for (const [what, change, status, param, code] of refusals) {
    test(`audio.speech.create refuses ${what}: ${status} ${code}`, async () => {
        const request = { model: 'tts-1', voice: 'alloy', input: 'Hi.', response_format: 'wav', ...change };
        await assert.rejects(client.audio.speech.create(request), (e) => {
            assert.ok(e instanceof OpenAI.APIError, String(e));
            assert.equal(e.status, status);
            assert.equal(e.code, code);
            assert.equal(e.param, param);
            return true;
        });
    });
}
