// disconnect.test.mjs - a client that goes away frees what it held: a stream
// aborted mid-way releases its slot (/health's requests_running back to 0,
// polled for at most 10 s) well before the whole generation would have
// ended, a request aborted while it waits in the queue leaves the queue, a
// non-streamed request whose client left is cancelled too, and with
// --parallel 1 the next request completes, many times over (a leaked slot
// would block it for ever).
// Run by tests/server/test_disconnect.sh (R1_URL, R1_PID set; --parallel 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MODEL, stream, postJSON, health, waitHealth, serverAlive } from './lib.mjs';

// Long enough that a whole generation takes seconds (3000 tokens had come
// down to ~0.4 s, too fast to tell a stopped generation from a finished one).
const long = {
    model: MODEL,
    messages: [{ role: 'user', content: 'Tell me everything.' }],
    max_tokens: 12000,
    ignore_eos: true,
    temperature: 0,
    stream: true,
};
const idle = (h) => h.requests_running === 0 && h.requests_waiting === 0;

async function followUp() {
    const r = await postJSON('/v1/chat/completions', {
        model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0, ignore_eos: true,
    }, { signal: AbortSignal.timeout(20000) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.usage.completion_tokens, 8);
}

test('the parallel setting is 1 (the slot must be reused to pass)', async () => {
    assert.equal((await health()).parallel, 1);
});

let fullMs = 0;
// The generation stopped when its client left, rather than running to its
// end: the slot was free well before a whole generation would have ended.
// (Only measurable when a whole one takes long enough.)
function stoppedEarly(ms, what) {
    if (fullMs < 400) {
        console.log(`info: a whole generation takes ${fullMs.toFixed(0)} ms: too fast to tell whether ${what} stopped early`);
        return;
    }
    assert.ok(ms < fullMs / 2, `${what} stopped early: slot free after ${ms.toFixed(0)} ms, a whole generation takes ${fullMs.toFixed(0)} ms`);
}
test('a whole 12000-token stream, for reference', async () => {
    const t0 = performance.now();
    const r = await stream('/v1/chat/completions', long);
    fullMs = performance.now() - t0;
    assert.ok(r.done);
    const last = r.events[r.events.length - 1];
    assert.equal(last.choices[0].finish_reason, 'length');
    console.log(`info: a whole 12000-token stream took ${fullMs.toFixed(0)} ms (${r.events.length} events)`);
});

test('a stream aborted after 3 chunks frees its slot; the next request completes', async () => {
    let running;
    const t0 = performance.now();
    const r = await stream('/v1/chat/completions', long, {
        onEvent: (ev, i) => (i >= 3 ? 'abort' : undefined),
    });
    assert.ok(r.aborted, 'the client aborted');
    assert.ok(!r.done);
    const h = await waitHealth(idle, 10000, 'requests_running 0 after the abort');
    running = h.requests_running;
    const freedMs = performance.now() - t0;
    console.log(`info: slot free ${freedMs.toFixed(0)} ms after the stream started (a whole stream: ${fullMs.toFixed(0)} ms)`);
    assert.equal(running, 0);
    stoppedEarly(freedMs, 'the aborted stream');
    await followUp();
    assert.ok(serverAlive(), 'the server is the same process');
});

test('ten aborted streams in a row leak nothing', async () => {
    for (let k = 0; k < 10; k++) {
        const r = await stream('/v1/chat/completions', long, { onEvent: (ev, i) => (i >= 1 + (k % 4) ? 'abort' : undefined) });
        assert.ok(r.aborted);
        await waitHealth(idle, 10000, `requests_running 0 after abort ${k + 1}`);
    }
    await followUp();
    const h = await health();
    assert.ok(idle(h), JSON.stringify(h));
});

test('an abort while waiting in the queue leaves the queue; the running stream is unharmed', async () => {
    // A holds the only slot; B waits behind it; B's client goes away.
    let aStarted;
    const started = new Promise((r) => (aStarted = r));
    const a = stream('/v1/chat/completions', long, { onEvent: (ev, i) => { if (i === 0) aStarted(); } });
    await started;
    const ctl = new AbortController();
    const b = fetch(process.env.R1_URL + '/v1/chat/completions', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(long), signal: ctl.signal,
    }).catch((e) => e);
    const seen = await waitHealth((h) => h.requests_waiting === 1 || h.requests_running === 0, 10000, 'B waiting');
    const bWaited = seen.requests_waiting === 1;
    ctl.abort();
    const ra = await a;
    assert.ok(ra.done, 'A completes with [DONE]');
    assert.equal(ra.events[ra.events.length - 1].choices[0].finish_reason, 'length');
    await b;
    if (!bWaited) console.log('info: A ended before B was seen waiting; the queue part was not exercised');
    await waitHealth(idle, 10000, 'nothing running or waiting after A ended and B left');
    await followUp();
});

test('a non-streamed request whose client goes away is cancelled too', async () => {
    const ctl = new AbortController();
    const p = postJSON('/v1/chat/completions', { ...long, stream: false }, { signal: ctl.signal }).catch((e) => e);
    await waitHealth((h) => h.requests_running === 1, 10000, 'the request running');
    const t0 = performance.now();
    ctl.abort();
    await p;
    await waitHealth(idle, 15000, 'the slot free again');
    const ms = performance.now() - t0;
    console.log(`info: non-streamed request: slot free ${ms.toFixed(0)} ms after its client left`);
    stoppedEarly(ms, 'the abandoned non-streamed request');
    await followUp();
    assert.ok(serverAlive());
});
