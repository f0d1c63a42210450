// openai_client.test.mjs - r1 serve through the official `openai` client, as
// an application would talk to it: models, chat (plain, streamed, logprobs,
// seeds), completions (string and token prompts, plain and streamed) and the
// errors the client turns into exceptions. The model has random weights:
// the text means nothing, so token counts, formats and equalities are checked.
// Run by tests/server/test_openai_client.sh (R1_URL set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { MODEL, checkChatUsage, checkUsage } from './lib.mjs';

const client = new OpenAI({ baseURL: process.env.R1_URL + '/v1', apiKey: 'none', maxRetries: 0, timeout: 30000 });
const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'What is 2 + 2?' },
];

test('models.list: the one model, named after the file', async () => {
    const page = await client.models.list();
    assert.equal(page.data.length, 1);
    const m = page.data[0];
    assert.equal(m.id, MODEL);
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'r1');
    assert.ok(Number.isInteger(m.created) && m.created > 0, `created: ${m.created}`);
});

test('models.retrieve: the model by its id; another id is a NotFoundError', async () => {
    const m = await client.models.retrieve(MODEL);
    assert.equal(m.id, MODEL);
    assert.equal(m.object, 'model');
    await assert.rejects(client.models.retrieve('no-such-model'), (e) => e instanceof OpenAI.NotFoundError);
});

let plain; // the non-streamed answer, compared with the streamed one below

test('chat: a plain completion stops at max_tokens with the usage filled in', async () => {
    const r = await client.chat.completions.create({
        model: MODEL, messages, max_tokens: 16, temperature: 0, ignore_eos: true,
    });
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.object, 'chat.completion');
    assert.ok(Number.isInteger(r.created) && Math.abs(r.created - Date.now() / 1000) < 600, `created: ${r.created}`);
    assert.equal(r.model, MODEL);
    assert.equal(r.choices.length, 1);
    const c = r.choices[0];
    assert.equal(c.index, 0);
    assert.equal(c.message.role, 'assistant');
    assert.equal(typeof c.message.content, 'string', 'message.content is a string');
    assert.equal(typeof c.message.reasoning_content, 'string', 'message.reasoning_content is a string');
    assert.equal(c.finish_reason, 'length');
    assert.equal(c.logprobs ?? null, null, 'no logprobs unless asked');
    checkChatUsage(r.usage);
    assert.equal(r.usage.completion_tokens, 16, 'finish_reason "length" means max_tokens tokens');
    // The prompt ends in "<think>\n": what the model writes first is reasoning,
    // and only text after a generated "</think>" is content.
    if (!c.message.reasoning_content.includes('</think>') && r.usage.completion_tokens_details.reasoning_tokens === 16)
        assert.equal(c.message.content, '', 'all tokens were reasoning, so content is empty');
    assert.ok(!c.message.content.includes('<think>') && !c.message.reasoning_content.includes('</think>'),
        'the think tags are not part of the texts');
    plain = r;
});

test('chat: the same request streamed gives the same message, chunk by chunk', async () => {
    const s = await client.chat.completions.create({
        model: MODEL, messages, max_tokens: 16, temperature: 0, ignore_eos: true,
        stream: true, stream_options: { include_usage: true },
    });
    let id = null, reasoning = '', content = '', finish = null, usage = null, n = 0, role = null;
    for await (const chunk of s) {
        assert.equal(chunk.object, 'chat.completion.chunk');
        id ??= chunk.id;
        assert.equal(chunk.id, id, 'every chunk has the same id');
        assert.equal(chunk.model, MODEL);
        if (n++ === 0) role = chunk.choices[0]?.delta?.role;
        if (chunk.usage) {
            assert.deepEqual(chunk.choices, [], 'the usage chunk has no choices');
            usage = chunk.usage;
            continue;
        }
        assert.equal(usage, null, 'nothing after the usage chunk');
        const d = chunk.choices[0].delta;
        reasoning += d.reasoning_content ?? '';
        content += d.content ?? '';
        if (chunk.choices[0].finish_reason) {
            assert.equal(finish, null, 'one finish_reason');
            finish = chunk.choices[0].finish_reason;
            assert.ok(!d.content && !d.reasoning_content, 'the finish chunk has an empty delta');
        }
    }
    assert.match(id, /^chatcmpl-/);
    assert.equal(role, 'assistant', 'the first delta carries the role');
    assert.equal(finish, 'length');
    assert.ok(usage, 'include_usage gives a usage chunk');
    checkChatUsage(usage);
    assert.equal(usage.completion_tokens, 16);
    assert.ok(plain, 'the plain request ran');
    assert.equal(reasoning, plain.choices[0].message.reasoning_content, 'streamed reasoning = plain reasoning');
    assert.equal(content, plain.choices[0].message.content, 'streamed content = plain content');
    assert.equal(usage.prompt_tokens, plain.usage.prompt_tokens);
    assert.equal(usage.completion_tokens_details.reasoning_tokens, plain.usage.completion_tokens_details.reasoning_tokens);
});

test('chat: max_completion_tokens is honoured', async () => {
    const r = await client.chat.completions.create({
        model: MODEL, messages, max_completion_tokens: 5, temperature: 0, ignore_eos: true,
    });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 5);
});

test('chat: a seed reproduces a sampled answer', async () => {
    const req = { model: MODEL, messages, max_tokens: 12, temperature: 1, seed: 1234, ignore_eos: true };
    const a = await client.chat.completions.create(req);
    const b = await client.chat.completions.create(req);
    assert.equal(a.choices[0].message.reasoning_content, b.choices[0].message.reasoning_content);
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
    assert.equal(a.usage.completion_tokens, 12);
});

test('chat: logprobs for every token, with top_logprobs alternatives', async () => {
    const r = await client.chat.completions.create({
        model: MODEL, messages, max_tokens: 6, temperature: 0, ignore_eos: true, logprobs: true, top_logprobs: 3,
    });
    const lp = r.choices[0].logprobs;
    assert.ok(lp && Array.isArray(lp.content), `logprobs.content is an array: ${JSON.stringify(lp)}`);
    assert.equal(lp.content.length, r.usage.completion_tokens, 'one entry per generated token');
    for (const t of lp.content) {
        assert.equal(typeof t.token, 'string');
        assert.ok(typeof t.logprob === 'number' && t.logprob <= 0, `logprob ${t.logprob}`);
        assert.ok(Array.isArray(t.bytes) && t.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256), 'bytes');
        assert.equal(t.top_logprobs.length, 3);
        // Greedy: the chosen token is the most likely one.
        const best = Math.max(...t.top_logprobs.map((x) => x.logprob));
        assert.ok(Math.abs(best - t.logprob) < 1e-4, `greedy token is the top one (${t.logprob} vs ${best})`);
        for (let i = 1; i < t.top_logprobs.length; i++)
            assert.ok(t.top_logprobs[i - 1].logprob >= t.top_logprobs[i].logprob, 'top_logprobs sorted');
    }
});

let plainText;

test('completions: a string prompt', async () => {
    const r = await client.completions.create({
        model: MODEL, prompt: 'Once upon a time', max_tokens: 10, temperature: 0, ignore_eos: true,
    });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.model, MODEL);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].index, 0);
    assert.equal(typeof r.choices[0].text, 'string');
    assert.equal(r.choices[0].finish_reason, 'length');
    checkUsage(r.usage);
    assert.equal(r.usage.completion_tokens, 10);
    plainText = r;
});

test('completions: the same prompt streamed gives the same text', async () => {
    const s = await client.completions.create({
        model: MODEL, prompt: 'Once upon a time', max_tokens: 10, temperature: 0, ignore_eos: true,
        stream: true, stream_options: { include_usage: true },
    });
    let text = '', finish = null, usage = null, id = null;
    for await (const c of s) {
        assert.equal(c.object, 'text_completion');
        id ??= c.id;
        assert.equal(c.id, id);
        if (c.usage) {
            usage = c.usage;
            assert.deepEqual(c.choices, []);
            continue;
        }
        text += c.choices[0].text;
        if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
    }
    assert.equal(finish, 'length');
    assert.ok(plainText);
    assert.equal(text, plainText.choices[0].text);
    assert.ok(usage, 'include_usage gives a usage chunk');
    assert.equal(usage.completion_tokens, 10);
    assert.equal(usage.prompt_tokens, plainText.usage.prompt_tokens);
});

test('completions: a prompt of token ids, plain and streamed', async () => {
    const prompt = [72, 101, 108, 108, 111, 44, 32, 119];
    const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 7, temperature: 0, ignore_eos: true });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.prompt_tokens, prompt.length, 'the prompt is exactly the ids sent');
    assert.equal(r.usage.completion_tokens, 7);
    const s = await client.completions.create({
        model: MODEL, prompt, max_tokens: 7, temperature: 0, ignore_eos: true, stream: true,
    });
    let text = '';
    for await (const c of s) text += c.choices[0]?.text ?? '';
    assert.equal(text, r.choices[0].text);
});

test('errors: n = 2 is a BadRequestError naming "n"', async () => {
    await assert.rejects(
        client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, n: 2 }),
        (e) => {
            assert.ok(e instanceof OpenAI.APIError, `an APIError: ${e}`);
            assert.equal(e.status, 400);
            assert.equal(e.param, 'n');
            assert.equal(e.type, 'invalid_request_error');
            return true;
        },
    );
});

test('errors: an unknown model is a NotFoundError (model_not_found)', async () => {
    await assert.rejects(
        client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 4 }),
        (e) => {
            assert.ok(e instanceof OpenAI.NotFoundError, `a NotFoundError: ${e}`);
            assert.equal(e.status, 404);
            assert.equal(e.code, 'model_not_found');
            return true;
        },
    );
});

test('errors: a bad temperature is a BadRequestError naming "temperature"', async () => {
    await assert.rejects(
        client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, temperature: 'hot' }),
        (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'temperature',
    );
});

test('after the errors the server still answers', async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 3, temperature: 0, ignore_eos: true });
    assert.equal(r.usage.completion_tokens, 3);
});
