#!/usr/bin/env node
// serve-load.mjs - load generator for `r1 serve` (or any OpenAI-compatible
// server on this machine), with Node's own fetch and no package.
//
// For each concurrency level N (default 1, 8, 32), N clients each send
// streamed chat requests back to back for a fixed time (--duration) or a
// fixed count (--requests per client), and the level reports:
//   output tokens/s   all completion tokens (from each stream's usage chunk,
//                     stream_options.include_usage) / the level's wall time
//   TTFT p50/p99      request sent -> first chunk with non-empty content or
//                     reasoning_content
//   ITL p50/p99       gaps between successive non-empty text chunks
//   requests, errors  (an error: a non-200 answer, a cut stream, no [DONE])
//
//   usage: node bench/serve-load.mjs [--url http://127.0.0.1:8080] [--clients 1,8,32]
//          [--duration 20 | --requests N] [--max-tokens 128] [--prompt TEXT] [--model NAME]
//          [--temperature 0.6] [--ignore-eos] [--json]
// The URL must be a loopback address: this is a load test.
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
    options: {
        url: { type: 'string', default: process.env.R1_URL || 'http://127.0.0.1:8080' },
        clients: { type: 'string', default: '1,8,32' },
        duration: { type: 'string', default: '20' },
        requests: { type: 'string' },
        'max-tokens': { type: 'string', default: '128' },
        prompt: { type: 'string', default: 'Explain, step by step, why the sky is blue.' },
        model: { type: 'string' },
        temperature: { type: 'string', default: '0.6' },
        'ignore-eos': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
    },
});
if (opt.help) {
    const src = await import('node:fs').then((fs) => fs.readFileSync(new URL(import.meta.url), 'utf8'));
    console.log(src.split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
    process.exit(0);
}

const base = opt.url.replace(/\/+$/, '');
const host = new URL(base).hostname.replace(/^\[|\]$/g, '');
if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) {
    console.error(`serve-load: ${base} is not a loopback address; this load generator only targets this machine`);
    process.exit(2);
}
const levels = opt.clients.split(',').map(Number);
const duration = Number(opt.duration);
const perClient = opt.requests !== undefined ? Number(opt.requests) : null;
const maxTokens = Number(opt['max-tokens']);
if (levels.some((n) => !Number.isInteger(n) || n < 1 || n > 1024) || !(duration > 0) || !(maxTokens > 0) ||
    (perClient !== null && !(Number.isInteger(perClient) && perClient > 0))) {
    console.error('serve-load: --clients wants integers 1..1024, --duration seconds > 0, --requests and --max-tokens integers > 0');
    process.exit(2);
}
// A hard stop whatever happens: the longest level may run past its duration
// by one request; 10 minutes per level at most.
const HARD_LIMIT_MS = 600000;

function percentile(xs, p) {
    if (xs.length === 0) return null;
    const s = Float64Array.from(xs).sort();
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

// One streamed request; returns { ok, tokens, ttft, gaps[], error }.
async function oneRequest(client, n, signal) {
    const body = {
        messages: [{ role: 'user', content: `${opt.prompt} (client ${client}, request ${n})` }],
        max_tokens: maxTokens,
        temperature: Number(opt.temperature),
        stream: true,
        stream_options: { include_usage: true },
    };
    if (opt.model) body.model = opt.model;
    if (opt['ignore-eos']) body.ignore_eos = true;
    const t0 = performance.now();
    let res;
    try {
        res = await fetch(base + '/v1/chat/completions', {
            method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal,
        });
    } catch (e) {
        return { ok: false, error: `connect: ${e.cause?.code || e.message}` };
    }
    if (res.status !== 200) {
        const text = await res.text().catch(() => '');
        return { ok: false, error: `HTTP ${res.status} ${text.slice(0, 120)}` };
    }
    const dec = new TextDecoder();
    const reader = res.body.getReader();
    let buf = '', ttft = null, last = null, tokens = null, done = false;
    const gaps = [];
    try {
        for (;;) {
            const { value, done: end } = await reader.read();
            if (end) break;
            buf += dec.decode(value, { stream: true });
            let at;
            while ((at = buf.indexOf('\n\n')) >= 0) {
                const line = buf.slice(0, at);
                buf = buf.slice(at + 2);
                if (!line.startsWith('data: ')) continue;
                const data = line.slice(6);
                if (data === '[DONE]') {
                    done = true;
                    continue;
                }
                const ev = JSON.parse(data);
                if (ev.error) return { ok: false, error: `stream error: ${ev.error.message}` };
                if (ev.usage) tokens = ev.usage.completion_tokens;
                const d = ev.choices?.[0]?.delta;
                if (d && ((d.content && d.content.length) || (d.reasoning_content && d.reasoning_content.length))) {
                    const now = performance.now();
                    if (ttft === null) ttft = now - t0;
                    else gaps.push(now - last);
                    last = now;
                }
            }
        }
    } catch (e) {
        return { ok: false, error: `stream cut: ${e.cause?.code || e.message}` };
    }
    if (!done) return { ok: false, error: 'stream ended without [DONE]' };
    if (tokens === null) return { ok: false, error: 'no usage chunk (stream_options.include_usage)' };
    return { ok: true, tokens, ttft, gaps };
}

async function runLevel(n) {
    const stopAt = performance.now() + duration * 1000;
    const ctl = new AbortController();
    const hard = setTimeout(() => ctl.abort(), HARD_LIMIT_MS);
    const ttfts = [], gaps = [], errors = {};
    let tokens = 0, requests = 0, failed = 0;
    const t0 = performance.now();
    const client = async (c) => {
        for (let k = 0; ; k++) {
            if (perClient !== null ? k >= perClient : performance.now() >= stopAt) return;
            if (ctl.signal.aborted) return;
            const r = await oneRequest(c, k, ctl.signal);
            requests++;
            if (!r.ok) {
                failed++;
                errors[r.error] = (errors[r.error] || 0) + 1;
                if (r.error.startsWith('connect')) await new Promise((s) => setTimeout(s, 100));
                continue;
            }
            tokens += r.tokens;
            if (r.ttft !== null) ttfts.push(r.ttft);
            for (const g of r.gaps) gaps.push(g);
        }
    };
    await Promise.all(Array.from({ length: n }, (_, c) => client(c)));
    clearTimeout(hard);
    const wall = (performance.now() - t0) / 1000;
    const r2 = (x) => (x === null ? null : Math.round(x * 100) / 100);
    return {
        clients: n, requests, errors: failed, wall_s: r2(wall),
        output_tokens: tokens, output_tokens_per_s: r2(tokens / wall), requests_per_s: r2((requests - failed) / wall),
        ttft_ms_p50: r2(percentile(ttfts, 50)), ttft_ms_p99: r2(percentile(ttfts, 99)),
        itl_ms_p50: r2(percentile(gaps, 50)), itl_ms_p99: r2(percentile(gaps, 99)),
        error_kinds: errors,
    };
}

let models = null;
try {
    const r = await fetch(base + '/v1/models', { signal: AbortSignal.timeout(10000) });
    models = (await r.json()).data?.map((m) => m.id);
} catch (e) {
    console.error(`serve-load: ${base}/v1/models: ${e.cause?.code || e.message}`);
    process.exit(1);
}
if (!opt.json)
    console.error(`serve-load: ${base} (model ${models?.join(', ')}), max_tokens ${maxTokens}, ` +
        (perClient !== null ? `${perClient} requests per client` : `${duration} s per level`));

const results = [];
for (const n of levels) {
    const r = await runLevel(n);
    results.push(r);
    if (!opt.json) {
        if (results.length === 1)
            console.log('clients  requests  errors  out tok/s   req/s  TTFT p50  TTFT p99  ITL p50  ITL p99  (ms)');
        const f = (x, w, d = 1) => (x === null ? '-' : x.toFixed(d)).padStart(w);
        console.log(`${String(n).padStart(7)}  ${String(r.requests).padStart(8)}  ${String(r.errors).padStart(6)}  ` +
            `${f(r.output_tokens_per_s, 9)}  ${f(r.requests_per_s, 6, 2)}  ${f(r.ttft_ms_p50, 8)}  ${f(r.ttft_ms_p99, 8)}  ` +
            `${f(r.itl_ms_p50, 7)}  ${f(r.itl_ms_p99, 7)}`);
        for (const [e, k] of Object.entries(r.error_kinds)) console.log(`         ${k} x ${e}`);
    }
}
if (opt.json)
    console.log(JSON.stringify({ url: base, models, max_tokens: maxTokens, duration_s: perClient === null ? duration : null,
        requests_per_client: perClient, levels: results }, null, 1));
process.exit(results.some((r) => r.errors > 0) ? 1 : 0);
