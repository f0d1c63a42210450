// loadgen.js - a bounded load generator for the HA tests (Node, no packages):
// W_PLAIN workers send non-streaming chat requests, W_STREAM workers send
// streaming ones, through the load balancer, until the stop file exists (or
// the time limit passes). Every request becomes one JSON line in OUT:
//   {"kind":"plain"|"stream","t0":ms,"t1":ms,"status":200,"ok":true,
//    "server":"r1-a","error":null,"chunks":N}
// A stream is ok when it ended with `data: [DONE]` and no `error` event.
// With STATS_URL (HAProxy's `stats;csv`), it also polls the servers' states
// every 50 ms and writes {"event":"state","server":..,"status":..,"t":ms}
// lines at each change.
//
//   node loadgen.js URL OUT STOPFILE [W_PLAIN W_STREAM MAX_SECONDS STATS_URL]
'use strict';
const http = require('http');
const fs = require('fs');

const [url, outPath, stopFile] = process.argv.slice(2, 5);
const wPlain = +(process.argv[5] || 2);
const wStream = +(process.argv[6] || 2);
const maxSeconds = +(process.argv[7] || 120);
const statsUrl = process.argv[8] || '';
const streamTokens = +(process.env.HA_STREAM_TOKENS || 120);
const plainTokens = +(process.env.HA_PLAIN_TOKENS || 8);
const pauseMs = +(process.env.HA_PAUSE_MS || 20);
const timeoutMs = +(process.env.HA_TIMEOUT_MS || 30000);

const out = fs.openSync(outPath, 'a');
const log = (o) => fs.writeSync(out, JSON.stringify(o) + '\n');
const target = new URL(url);
const agent = new http.Agent({keepAlive: true, maxSockets: 64});
const deadline = Date.now() + maxSeconds * 1000;
const stopping = () => Date.now() > deadline || fs.existsSync(stopFile);

function body(stream, n) {
    return JSON.stringify({
        messages: [{role: 'user', content: 'Tell me about request ' + n}],
        stream, max_tokens: stream ? streamTokens : plainTokens, ignore_eos: true, temperature: 0,
    });
}

function one(kind, n) {
    return new Promise((resolve) => {
        const t0 = Date.now();
        const rec = {kind, t0, t1: 0, status: 0, ok: false, server: null, error: null, chunks: 0};
        let done = false;
        const finish = (err) => {
            if (done) return;
            done = true;
            rec.t1 = Date.now();
            if (err && !rec.error) rec.error = err;
            log(rec);
            resolve();
        };
        const data = body(kind === 'stream', n);
        const req = http.request({
            host: target.hostname, port: target.port, path: '/v1/chat/completions', method: 'POST', agent,
            headers: {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data)},
            timeout: timeoutMs,
        }, (res) => {
            rec.status = res.statusCode;
            rec.server = res.headers['x-served-by'] || null;
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c) => {
                text += c;
                if (kind === 'stream') rec.chunks += (c.match(/^data: /mg) || []).length;
            });
            res.on('aborted', () => finish('aborted mid-response'));
            res.on('error', (e) => finish('response error: ' + e.code));
            res.on('end', () => {
                if (res.statusCode !== 200) return finish('HTTP ' + res.statusCode + ': ' + text.slice(0, 160));
                if (kind === 'stream') {
                    if (/^event: error|"error":\s*\{/m.test(text)) return finish('error event in stream');
                    if (!text.includes('data: [DONE]')) return finish('stream ended without [DONE]');
                } else {
                    try {
                        const d = JSON.parse(text);
                        if (d.object !== 'chat.completion') return finish('not a chat.completion');
                    } catch (e) {
                        return finish('bad JSON: ' + text.slice(0, 100));
                    }
                }
                rec.ok = true;
                finish(null);
            });
        });
        req.on('timeout', () => { req.destroy(new Error('timeout')); });
        req.on('error', (e) => finish('request error: ' + (e.code || e.message)));
        req.end(data);
    });
}

let counter = 0;
async function worker(kind) {
    while (!stopping()) {
        await one(kind, counter++);
        await new Promise((r) => setTimeout(r, pauseMs));
    }
}

// HAProxy's CSV stats: column 0 proxy, 1 server, 17 status
const states = {};
let polling = !!statsUrl;
function poll() {
    if (!polling) return;
    const t = Date.now();
    http.get(statsUrl, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
            for (const line of text.split('\n')) {
                const f = line.split(',');
                if (f.length < 18 || f[1] === 'FRONTEND' || f[1] === 'BACKEND' || f[0].startsWith('#')) continue;
                if (f[0] !== 'be_r1') continue;
                const status = f[17].split(' ')[0];
                if (states[f[1]] !== status) {
                    states[f[1]] = status;
                    log({event: 'state', server: f[1], status, t});
                }
            }
            setTimeout(poll, 50);
        });
    }).on('error', () => setTimeout(poll, 50));
}

const workers = [];
for (let i = 0; i < wPlain; i++) workers.push(worker('plain'));
for (let i = 0; i < wStream; i++) workers.push(worker('stream'));
poll();
Promise.all(workers).then(() => {
    polling = false;
    agent.destroy();
    fs.closeSync(out);
    process.exit(0);
});
