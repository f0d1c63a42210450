// concurrency.test.mjs - batching must not change results: 32 streamed chats
// sent at once (the server batches them, --parallel 32) give exactly the
// texts and token counts of the same requests sent one at a time, greedy and
// seeded; the streamed messages equal the non-streamed ones; the SSE framing
// is strict; nothing is left running afterwards. That is for a server run
// with --exact (float activations). With CONCURRENCY_MODE=fast (the default
// 8-bit activations, whose batched kernels add in another order,
// docs/SERVER.md) a greedy answer may change only where its two best tokens
// are nearly tied: the first differing token must sit at a near-tie. With
// CONCURRENCY_MODE=pressure (--parallel 8 --kv-cache-tokens 1024 --exact)
// requests wait for room in the KV cache, and still give the same answers.
// Run by tests/server/test_concurrency.sh (R1_URL set), plain fetch only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MODEL, stream, postJSON, assembleChat, health, serverAlive } from './lib.mjs';

const N = 32;
// Prompts of different lengths, so prefills of different sizes share batches
// with decoding sequences; every eighth one is long (~600 tokens), so its
// prefill is cut into --prefill-chunk pieces while the others decode.
const prompt = (i) => `question ${i}` + ' and then some more'.repeat(i % 5) + (i % 8 === 7 ? ' long context'.repeat(46) : '');
const request = (i, extra = {}) => ({
    model: MODEL,
    messages: [{ role: 'user', content: prompt(i) }],
    max_tokens: 24,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
    ...extra,
});

function summary(m) {
    return { reasoning: m.reasoning, content: m.content, finish_reason: m.finish_reason,
        prompt_tokens: m.usage.prompt_tokens, completion_tokens: m.usage.completion_tokens,
        reasoning_tokens: m.usage.completion_tokens_details.reasoning_tokens };
}

async function oneAtATime(extra) {
    const out = [];
    for (let i = 0; i < N; i++) out.push(summary(assembleChat(await stream('/v1/chat/completions', request(i, extra)), { includeUsage: true })));
    return out;
}

// All at once; also returns how many streams were in flight together at most
// (from the client's view: first chunk .. [DONE] intervals).
async function allAtOnce(extra) {
    const t0 = performance.now();
    const rs = await Promise.all(Array.from({ length: N }, (_, i) => stream('/v1/chat/completions', request(i, extra))));
    const spans = rs.map((r) => [r.start + r.times[0], r.start + (r.tDone ?? r.times[r.times.length - 1])]);
    let overlap = 0;
    for (const [s] of spans) overlap = Math.max(overlap, spans.filter(([a, b]) => a <= s && s <= b).length);
    return { out: rs.map((r) => summary(assembleChat(r, { includeUsage: true }))), overlap, ms: performance.now() - t0 };
}

function compare(seq, par, what) {
    let diffs = 0;
    for (let i = 0; i < N; i++) {
        try {
            assert.deepEqual(par[i], seq[i]);
        } catch (e) {
            diffs++;
            if (diffs <= 3) console.log(`${what}: request ${i} differs:\n  alone:   ${JSON.stringify(seq[i])}\n  batched: ${JSON.stringify(par[i])}`);
        }
    }
    assert.equal(diffs, 0, `${what}: ${diffs} of ${N} requests differ between one-at-a-time and all-at-once`);
}

const mode = process.env.CONCURRENCY_MODE || 'exact';
const fast = mode === 'fast';

if (mode === 'exact') {
    test('SSE framing and chunk format of one stream', async () => {
        const r = await stream('/v1/chat/completions', request(0, { max_tokens: 8, ignore_eos: true }));
        const m = assembleChat(r, { includeUsage: true });
        assert.equal(m.finish_reason, 'length');
        assert.equal(m.usage.completion_tokens, 8);
        assert.ok(m.pieces <= 8, `at most one text piece per token (${m.pieces})`);
        assert.match(r.headers.get('cache-control') || 'no-cache', /no-cache|no-store/, 'streams are not cached');
    });

    test('streamed = non-streamed, for every prompt', async () => {
        for (const i of [0, 1, 7, 13]) {
            const s = assembleChat(await stream('/v1/chat/completions', request(i)), { includeUsage: true });
            const { stream: _s, stream_options: _o, ...plain } = request(i);
            const p = await postJSON('/v1/chat/completions', plain);
            assert.equal(p.status, 200, JSON.stringify(p.body));
            const msg = p.body.choices[0].message;
            assert.equal(s.reasoning, msg.reasoning_content, `request ${i}: reasoning`);
            assert.equal(s.content, msg.content, `request ${i}: content`);
            assert.equal(s.finish_reason, p.body.choices[0].finish_reason, `request ${i}: finish_reason`);
            // (cached_tokens differ: the second request reuses the first one's cache)
            for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens'])
                assert.equal(s.usage[k], p.body.usage[k], `request ${i}: usage.${k}`);
            assert.equal(s.usage.completion_tokens_details.reasoning_tokens, p.body.usage.completion_tokens_details.reasoning_tokens);
        }
    });

    test(`greedy: ${N} concurrent streams = the same ${N} requests one at a time`, async () => {
        const seq = await oneAtATime({});
        const par = await allAtOnce({});
        console.log(`info: greedy: ${N} streams at once in ${par.ms.toFixed(0)} ms, at most ${par.overlap} in flight together`);
        compare(seq, par.out, 'greedy');
        // The batch path really ran: the streams overlapped in time.
        assert.ok(par.overlap >= 2, `the ${N} streams overlapped (at most ${par.overlap} at once)`);
        for (const s of seq) {
            if (s.finish_reason === 'length') assert.equal(s.completion_tokens, 24);
            else assert.ok(s.completion_tokens <= 24);
        }
        // And again: the same answers a third time (no state leaks between requests).
        compare(seq, (await allAtOnce({})).out, 'greedy, second batch');
    });

    test(`seeded sampling: ${N} concurrent streams = one at a time`, async () => {
        // Every request its own seed: a batch must not mix the sequences' random draws.
        const extra = (i) => ({ temperature: 0.9, top_p: 0.95, seed: 1000 + i });
        const seq = [];
        for (let i = 0; i < N; i++) seq.push(summary(assembleChat(await stream('/v1/chat/completions', request(i, extra(i))), { includeUsage: true })));
        const rs = await Promise.all(Array.from({ length: N }, (_, i) => stream('/v1/chat/completions', request(i, extra(i)))));
        compare(seq, rs.map((r) => summary(assembleChat(r, { includeUsage: true }))), 'seeded');
    });

}

if (fast) {
    // Greedy, non-streamed, with the two best log-probabilities of every token.
    const plain = (i) => ({ model: MODEL, messages: [{ role: 'user', content: prompt(i) }], max_tokens: 24,
        temperature: 0, logprobs: true, top_logprobs: 2 });
    const tokens = (body) => body.choices[0].logprobs.content;
    const TIE = 0.35; // the fast mode's reference tolerance in logits (docs/TESTING.md)

    test(`fast mode: ${N} concurrent requests = one at a time, except at near-ties`, async () => {
        const seq = [];
        for (let i = 0; i < N; i++) {
            const r = await postJSON('/v1/chat/completions', plain(i));
            assert.equal(r.status, 200, JSON.stringify(r.body));
            seq.push(r.body);
        }
        const par = (await Promise.all(Array.from({ length: N }, (_, i) => postJSON('/v1/chat/completions', plain(i))))).map((r) => {
            assert.equal(r.status, 200, JSON.stringify(r.body));
            return r.body;
        });
        let diverged = 0;
        for (let i = 0; i < N; i++) {
            const a = tokens(seq[i]), b = tokens(par[i]);
            assert.equal(a.length, seq[i].usage.completion_tokens, 'one logprobs entry per token');
            let k = 0;
            while (k < a.length && k < b.length && JSON.stringify(a[k].bytes) === JSON.stringify(b[k].bytes)) k++;
            if (k === a.length && k === b.length) {
                assert.equal(seq[i].choices[0].message.reasoning_content, par[i].choices[0].message.reasoning_content);
                continue;
            }
            diverged++;
            const gap = (t) => t.top_logprobs[0].logprob - t.top_logprobs[1].logprob;
            assert.ok(k < a.length && k < b.length, `request ${i}: one answer is a prefix of the other (${a.length} vs ${b.length} tokens)`);
            console.log(`info: fast mode: request ${i} diverges at token ${k}: top-2 gap alone ${gap(a[k]).toFixed(4)}, batched ${gap(b[k]).toFixed(4)}`);
            assert.ok(gap(a[k]) < TIE && gap(b[k]) < TIE,
                `request ${i} diverges at token ${k} where the two best tokens are ${gap(a[k]).toFixed(3)} / ${gap(b[k]).toFixed(3)} apart (a near-tie is < ${TIE})`);
        }
        console.log(`info: fast mode: ${diverged} of ${N} greedy answers changed in a batch, each at a near-tie`);
        assert.ok(diverged <= N / 4, `at most a quarter of the answers diverge (${diverged})`);
    });
}

if (mode === 'pressure') {
    // A KV cache too small for every request at once (--kv-cache-tokens 1024,
    // each request ~150-300 positions): the scheduler admits only what it can
    // promise room for, the rest wait, and nothing changes the answers.
    const M = 8;
    const req = (i) => ({ model: MODEL, messages: [{ role: 'user', content: `pressure ${i} ` + 'pad '.repeat(5 + i * 4) }],
        max_tokens: 150, ignore_eos: true, temperature: 0 });
    test(`cache pressure: ${M} concurrent requests wait for room and equal one at a time`, async () => {
        let peakRunning = 0, peakWaiting = 0, polling = true;
        const poll = (async () => {
            while (polling) {
                const h = await health();
                peakRunning = Math.max(peakRunning, h.requests_running);
                peakWaiting = Math.max(peakWaiting, h.requests_waiting);
                await new Promise((r) => setTimeout(r, 10));
            }
        })();
        const par = await Promise.all(Array.from({ length: M }, (_, i) => postJSON('/v1/chat/completions', req(i))));
        polling = false;
        await poll;
        console.log(`info: cache pressure: at most ${peakRunning} running and ${peakWaiting} waiting at once`);
        const seq = [];
        for (let i = 0; i < M; i++) seq.push(await postJSON('/v1/chat/completions', req(i)));
        for (let i = 0; i < M; i++) {
            assert.equal(par[i].status, 200, JSON.stringify(par[i].body));
            assert.equal(par[i].body.usage.completion_tokens, 150);
            assert.equal(par[i].body.choices[0].message.reasoning_content, seq[i].body.choices[0].message.reasoning_content, `request ${i}`);
            assert.equal(par[i].body.choices[0].message.content, seq[i].body.choices[0].message.content, `request ${i}`);
        }
        assert.ok(peakRunning < M, `the cache limited how many ran at once (${peakRunning} of ${M})`);
    });
}

test('nothing is left running and the server is the same process', async () => {
    const h = await health();
    assert.equal(h.status, 'ok');
    assert.equal(h.requests_running, 0);
    assert.equal(h.requests_waiting, 0);
    assert.equal(h.parallel, Number(process.env.PARALLEL || 32));
    assert.ok(serverAlive());
});
