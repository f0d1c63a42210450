// drain.test.mjs - SIGTERM while streams run. DRAIN_MODE selects the case:
//   graceful  one SIGTERM: /ready turns 503 {"status":"draining"} at once (asked
//             on a keep-alive connection opened before), a new request on
//             another open connection gets 503 "draining" with Retry-After,
//             new connections are refused, and the running streams go on to
//             their end with [DONE] (the shell then expects exit status 0)
//   twice     a second SIGTERM exits at once: the streams are cut short
//   timeout   --drain-timeout 1: streams longer than that are cut when it
//             expires, with finish_reason "cancelled" and [DONE] (the shell
//             checks the exit time)
// Run by tests/server/test_drain.sh (R1_URL, R1_PID set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { MODEL, PID, BASE, stream, keepAliveClient, sleep } from './lib.mjs';

const mode = process.env.DRAIN_MODE || 'graceful';
const nStreams = Number(process.env.DRAIN_STREAMS || 3);
const maxTokens = Number(process.env.DRAIN_MAX_TOKENS || 3000);
const req = (i) => ({
    model: MODEL,
    messages: [{ role: 'user', content: `Talk for a long time, please (${i}).` }],
    max_tokens: maxTokens,
    ignore_eos: true,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
});

// Starts the streams and resolves once every one of them has sent a chunk.
function startStreams() {
    let started = 0, allStarted;
    const ready = new Promise((r) => (allStarted = r));
    const streams = Array.from({ length: nStreams }, (_, i) =>
        stream('/v1/chat/completions', req(i), {
            allowCut: mode !== 'graceful',
            onEvent: (ev, k) => {
                if (k === 1 && ++started === nStreams) allStarted();
            },
        }),
    );
    return { ready, streams };
}

// Connecting anew: resolves with the error code (ECONNREFUSED...) or 'connected'.
function tryConnect() {
    const u = new URL(BASE);
    return new Promise((resolve) => {
        const s = net.connect({ host: u.hostname, port: Number(u.port) });
        s.setTimeout(3000, () => {
            s.destroy();
            resolve('timeout');
        });
        s.on('connect', () => {
            s.destroy();
            resolve('connected');
        });
        s.on('error', (e) => resolve(e.code || String(e)));
    });
}

const elapsed = (t) => (performance.now() - t).toFixed(0);

if (mode === 'graceful') {
    test('one SIGTERM: ready turns 503, new connections are refused, running streams finish', async () => {
        assert.ok(PID > 0, 'R1_PID is set');
        const ka = keepAliveClient();
        const before = await ka.get('/ready');
        assert.equal(before.status, 200);
        assert.deepEqual(before.body, { status: 'ready' });
        const ka2 = keepAliveClient(); // a second open connection, for a request while draining
        assert.equal((await ka2.get('/health')).status, 200);

        const { ready, streams } = startStreams();
        await ready;
        const counts = [];
        const results = streams.map((p) => p.then((r) => r)); // keep references
        const tTerm = performance.now();
        process.kill(PID, 'SIGTERM');

        // "At once": the signal is handled asynchronously, so allow it 500 ms.
        const ask = () => ka.get('/ready').catch((e) => {
            throw new Error(`/ready on the keep-alive connection opened before SIGTERM: ${e.code || e.message} ` +
                '(the server dropped the connection instead of answering 503 {"status":"draining"})');
        });
        let during = await ask();
        while (during.status === 200 && performance.now() - tTerm < 500) {
            await sleep(10);
            during = await ask();
        }
        console.log(`info: /ready ${elapsed(tTerm)} ms after SIGTERM: ${during.status} ${JSON.stringify(during.body)} (reused connection: ${during.reused})`);
        assert.equal(during.reused, true, 'the /ready request travelled on the connection opened before SIGTERM');
        assert.equal(during.status, 503, '/ready is 503 while draining (within 500 ms of SIGTERM)');
        assert.deepEqual(during.body, { status: 'draining' });
        ka.close();

        // docs/SERVER.md: a new request on an open connection gets 503 "draining"
        // (with Retry-After), and the connection is closed.
        const late = await ka2.post('/v1/chat/completions', req(99)).catch((e) => {
            throw new Error(`a request on a connection opened before SIGTERM: ${e.code || e.message} (expected a 503 "draining" answer)`);
        });
        console.log(`info: a new request on an open connection while draining: ${late.status} ${JSON.stringify(late.body).slice(0, 160)}`);
        assert.equal(late.reused, true, 'the request travelled on the connection opened before SIGTERM');
        assert.equal(late.status, 503, 'a new request while draining gets 503');
        assert.equal(late.body?.error?.code, 'draining');
        assert.ok(late.headers['retry-after'], 'with Retry-After');
        ka2.close();

        const conn = await tryConnect();
        console.log(`info: a new connection ${elapsed(tTerm)} ms after SIGTERM: ${conn}`);
        assert.equal(conn, 'ECONNREFUSED', 'new connections are refused while draining');

        const rs = await Promise.all(results);
        rs.forEach((r, i) => {
            const atTerm = r.times.filter((t) => r.start + t <= tTerm).length;
            counts.push(`${atTerm}/${r.events.length}`);
            assert.equal(r.status, 200);
            assert.ok(r.done, `stream ${i} ends with [DONE]`);
            const finish = r.events[r.events.length - 2]?.choices?.[0]?.finish_reason;
            assert.equal(finish, 'length', `stream ${i} ran to max_tokens`);
            assert.equal(r.events[r.events.length - 1].usage?.completion_tokens, maxTokens, `stream ${i}: ${maxTokens} tokens`);
            assert.ok(r.events.length > atTerm, `stream ${i} went on after SIGTERM`);
        });
        console.log(`info: chunks before SIGTERM / in all, per stream: ${counts.join(' ')}; all done ${elapsed(tTerm)} ms after SIGTERM`);
    });
}

if (mode === 'twice') {
    test('a second SIGTERM ends the process at once, cutting the streams', async () => {
        const { ready, streams } = startStreams();
        await ready;
        const t = performance.now();
        process.kill(PID, 'SIGTERM');
        await sleep(100);
        const t2 = performance.now();
        process.kill(PID, 'SIGTERM');
        const rs = await Promise.all(streams);
        const ended = performance.now();
        const done = rs.filter((r) => r.done).length;
        console.log(`info: streams ended ${elapsed(t2)} ms after the second SIGTERM; ${done}/${rs.length} had [DONE]; chunks: ${rs.map((r) => r.events.length).join(' ')}`);
        assert.ok(ended - t2 < 3000, `the streams ended within 3 s of the second signal (${elapsed(t2)} ms)`);
        assert.ok(done < rs.length, 'the streams were cut, not drained');
        void t;
    });
}

if (mode === 'timeout') {
    test('--drain-timeout cuts streams that outlast it', async () => {
        const { ready, streams } = startStreams();
        await ready;
        const t = performance.now();
        process.kill(PID, 'SIGTERM');
        const rs = await Promise.all(streams);
        const ms = performance.now() - t;
        const finishes = rs.map((r) => r.events.map((e) => e.choices?.[0]?.finish_reason).find((f) => f) ?? 'none');
        console.log(`info: streams ended ${ms.toFixed(0)} ms after SIGTERM (--drain-timeout 1); finish reasons: ${finishes.join(' ')}; ` +
            `[DONE]: ${rs.filter((r) => r.done).length}/${rs.length}; chunks: ${rs.map((r) => r.events.length).join(' ')}`);
        assert.ok(ms < 4000, `every stream ended within drain-timeout + 3 s (${ms.toFixed(0)} ms)`);
        // docs/SERVER.md: the requests still running when the timeout expires
        // are cancelled, and their streams end properly: a last chunk with
        // finish_reason "cancelled", then [DONE].
        rs.forEach((r, i) => {
            const usage = r.events[r.events.length - 1]?.usage;
            if (finishes[i] === 'length') assert.equal(usage?.completion_tokens, maxTokens, `stream ${i} ran to its end`);
            else assert.equal(finishes[i], 'cancelled', `stream ${i} was cut: finish_reason "cancelled"`);
            assert.ok(r.done, `stream ${i} ends with [DONE]`);
        });
        assert.ok(finishes.includes('cancelled'), 'some stream outlasted the 1 s drain (the cut was exercised)');
    });
}
