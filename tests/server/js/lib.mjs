// lib.mjs - what the server tests' Node scripts share: plain requests to
// `r1 serve` with Node's own fetch, a strict reader of its server-sent
// events, and checks of the OpenAI chunk formats.
//   R1_URL  the server (http://127.0.0.1:PORT), set by tests/server/lib/server.sh
//   R1_PID  its process id
import assert from 'node:assert/strict';
import http from 'node:http';

export const BASE = process.env.R1_URL;
export const PID = Number(process.env.R1_PID || 0);
export const MODEL = process.env.R1_ALIAS || 'tiny';
if (!BASE) throw new Error('R1_URL is not set (tests/server/lib/server.sh sets it)');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function serverAlive() {
    if (!PID) return true;
    try {
        process.kill(PID, 0);
        return true;
    } catch {
        return false;
    }
}

export async function getJSON(path, init = {}) {
    const res = await fetch(BASE + path, init);
    const text = await res.text();
    let body;
    try {
        body = JSON.parse(text);
    } catch {
        body = { unparsable: text };
    }
    return { status: res.status, headers: res.headers, body };
}

export function postJSON(path, body, init = {}) {
    return getJSON(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
        ...init,
    });
}

export async function health() {
    const r = await getJSON('/health');
    assert.equal(r.status, 200, `/health: ${JSON.stringify(r.body)}`);
    return r.body;
}

// Polls /health until pred(body) holds; returns the body, or throws after ms.
export async function waitHealth(pred, ms = 10000, what = 'the expected counts') {
    const t0 = Date.now();
    let last;
    while (Date.now() - t0 < ms) {
        last = await health();
        if (pred(last)) return last;
        await sleep(20);
    }
    throw new Error(`/health did not show ${what} within ${ms} ms; last: ${JSON.stringify(last)}`);
}

// POSTs a streaming request and reads its server-sent events strictly:
// every event is one `data: ...` line followed by a blank line; the last one
// is `data: [DONE]` and nothing follows it. Returns
//   { status, headers, events: [parsed JSON...], done, times: [ms since start
//     of each event], tDone, start (performance.now() at the start), error
//     (the body when status != 200), aborted }.
// opts.onEvent(event, index, result) may return 'abort' to abort the request.
export async function stream(path, body, opts = {}) {
    const ctl = new AbortController();
    const t0 = performance.now();
    const result = { status: 0, headers: null, events: [], times: [], done: false, aborted: false, tDone: null, start: t0 };
    const res = await fetch(BASE + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: ctl.signal,
    });
    result.status = res.status;
    result.headers = res.headers;
    if (res.status !== 200) {
        const text = await res.text();
        try {
            result.error = JSON.parse(text);
        } catch {
            result.error = { unparsable: text };
        }
        return result;
    }
    const ctype = res.headers.get('content-type') || '';
    assert.match(ctype, /^text\/event-stream/, `content-type of a stream: ${ctype}`);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
        for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += dec.decode(value, { stream: true });
            let at;
            while ((at = buf.indexOf('\n\n')) >= 0) {
                const block = buf.slice(0, at);
                buf = buf.slice(at + 2);
                const lines = block.split('\n').filter((l) => !l.startsWith(':')); // SSE comments
                if (lines.length === 0) continue;
                assert.equal(lines.length, 1, `one data line per event: ${JSON.stringify(block)}`);
                assert.ok(lines[0].startsWith('data: '), `an event is "data: ...": ${JSON.stringify(block)}`);
                const data = lines[0].slice(6);
                assert.ok(!result.done, `nothing may follow data: [DONE] (got ${JSON.stringify(data)})`);
                if (data === '[DONE]') {
                    result.done = true;
                    result.tDone = performance.now() - t0;
                    continue;
                }
                const ev = JSON.parse(data);
                result.events.push(ev);
                result.times.push(performance.now() - t0);
                if (opts.onEvent && opts.onEvent(ev, result.events.length - 1, result) === 'abort') {
                    result.aborted = true;
                    ctl.abort();
                    try {
                        await reader.cancel();
                    } catch {}
                    return result;
                }
            }
        }
    } catch (e) {
        if (opts.allowCut) {
            result.cut = e;
            return result;
        }
        throw e;
    }
    if (!opts.allowCut) assert.equal(buf.trim(), '', `bytes after the last event: ${JSON.stringify(buf.slice(0, 200))}`);
    return result;
}

function checkUsage(u, where) {
    assert.equal(typeof u, 'object', `${where}: usage is an object`);
    for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens'])
        assert.ok(Number.isInteger(u[k]) && u[k] >= 0, `${where}: usage.${k} = ${u[k]}`);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens, `${where}: total = prompt + completion`);
    assert.ok(u.prompt_tokens > 0, `${where}: prompt_tokens > 0`);
}
export { checkUsage };

export function checkChatUsage(u, where = 'usage') {
    checkUsage(u, where);
    const r = u.completion_tokens_details?.reasoning_tokens;
    assert.ok(Number.isInteger(r) && r >= 0 && r <= u.completion_tokens,
        `${where}: 0 <= reasoning_tokens (${r}) <= completion_tokens (${u.completion_tokens})`);
    const c = u.prompt_tokens_details?.cached_tokens;
    assert.ok(Number.isInteger(c) && c >= 0 && c <= u.prompt_tokens,
        `${where}: 0 <= cached_tokens (${c}) <= prompt_tokens (${u.prompt_tokens})`);
}

// Checks a chat stream's events against the OpenAI chunk format and puts
// the message back together:
// { id, reasoning, content, finish_reason, usage, pieces }.
export function assembleChat(r, { includeUsage = false, model = MODEL } = {}) {
    assert.equal(r.status, 200, `stream status: ${JSON.stringify(r.error)}`);
    assert.ok(r.done, 'the stream ends with data: [DONE]');
    const ev = r.events;
    assert.ok(ev.length >= 2, `at least a first and a final chunk (got ${ev.length})`);
    const id = ev[0].id;
    assert.match(String(id), /^chatcmpl-/, 'chunk id starts with chatcmpl-');
    let reasoning = '', content = '', finish = null, usage = null, pieces = 0, finishAt = -1;
    ev.forEach((c, i) => {
        assert.equal(c.object, 'chat.completion.chunk', `chunk ${i} object`);
        assert.equal(c.id, id, `chunk ${i} has the stream's id`);
        assert.equal(c.model, model, `chunk ${i} model`);
        assert.ok(Number.isInteger(c.created), `chunk ${i} created`);
        if (includeUsage && i === ev.length - 1) {
            assert.deepEqual(c.choices, [], 'the usage chunk has choices: []');
            usage = c.usage;
            return;
        }
        assert.ok(!includeUsage || c.usage == null, `chunk ${i}: only the last chunk carries usage (${JSON.stringify(c.usage)})`);
        assert.equal(c.choices.length, 1, `chunk ${i} has one choice`);
        const ch = c.choices[0];
        assert.equal(ch.index, 0, `chunk ${i} choice index`);
        const d = ch.delta;
        assert.equal(typeof d, 'object', `chunk ${i} has a delta`);
        if (i === 0) assert.equal(d.role, 'assistant', 'the first delta has role "assistant"');
        else assert.ok(d.role === undefined || d.role === 'assistant', `chunk ${i} role`);
        if (finish !== null) assert.fail(`chunk ${i} after the finish_reason chunk`);
        if (ch.finish_reason != null) {
            finish = ch.finish_reason;
            finishAt = i;
            assert.ok(!d.content && !d.reasoning_content, `the finish chunk's delta is empty: ${JSON.stringify(d)}`);
        }
        if (d.reasoning_content != null) {
            assert.equal(typeof d.reasoning_content, 'string');
            reasoning += d.reasoning_content;
            if (d.reasoning_content) pieces++;
        }
        if (d.content != null) {
            assert.equal(typeof d.content, 'string');
            content += d.content;
            if (d.content) pieces++;
        }
    });
    assert.ok(finish === 'stop' || finish === 'length', `finish_reason "stop" or "length" (got ${finish})`);
    assert.equal(finishAt, ev.length - (includeUsage ? 2 : 1), 'the finish_reason chunk is the last choice chunk');
    if (includeUsage) checkChatUsage(usage, 'stream usage');
    return { id, reasoning, content, finish_reason: finish, usage, pieces };
}

// The same for /v1/completions streams: { id, text, finish_reason, usage }.
export function assembleText(r, { includeUsage = false, model = MODEL } = {}) {
    assert.equal(r.status, 200, `stream status: ${JSON.stringify(r.error)}`);
    assert.ok(r.done, 'the stream ends with data: [DONE]');
    const ev = r.events;
    assert.ok(ev.length >= 1, 'at least one chunk');
    const id = ev[0].id;
    let text = '', finish = null, usage = null;
    ev.forEach((c, i) => {
        assert.equal(c.object, 'text_completion', `chunk ${i} object`);
        assert.equal(c.id, id, `chunk ${i} has the stream's id`);
        assert.equal(c.model, model, `chunk ${i} model`);
        if (includeUsage && i === ev.length - 1) {
            assert.deepEqual(c.choices, [], 'the usage chunk has choices: []');
            usage = c.usage;
            return;
        }
        assert.equal(c.choices.length, 1, `chunk ${i} has one choice`);
        if (finish !== null) assert.fail(`chunk ${i} after the finish_reason chunk`);
        const ch = c.choices[0];
        assert.equal(typeof ch.text, 'string', `chunk ${i} text`);
        text += ch.text;
        if (ch.finish_reason != null) finish = ch.finish_reason;
    });
    assert.ok(finish === 'stop' || finish === 'length', `finish_reason "stop" or "length" (got ${finish})`);
    if (includeUsage) checkUsage(usage, 'stream usage');
    return { id, text, finish_reason: finish, usage };
}

// A keep-alive connection of its own (one socket), for requests that must
// travel on a connection opened earlier (e.g. /ready while draining).
export function keepAliveClient() {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const u = new URL(BASE);
    const request = (method, path, body) =>
        new Promise((resolve, reject) => {
            const headers = body === undefined ? {} : { 'content-type': 'application/json' };
            const req = http.request(
                { host: u.hostname, port: u.port, path, method, agent, headers },
                (res) => {
                    let data = '';
                    res.setEncoding('utf8');
                    res.on('data', (c) => (data += c));
                    res.on('end', () => {
                        let parsed;
                        try {
                            parsed = JSON.parse(data);
                        } catch {
                            parsed = { unparsable: data };
                        }
                        resolve({ status: res.statusCode, body: parsed, reused: req.reusedSocket, headers: res.headers });
                    });
                },
            );
            req.setTimeout(5000, () => req.destroy(new Error(`${method} ${path}: no answer in 5 s`)));
            req.on('error', reject);
            req.end(body === undefined ? undefined : JSON.stringify(body));
        });
    return { get: (path) => request('GET', path), post: (path, body) => request('POST', path, body), close: () => agent.destroy() };
}
