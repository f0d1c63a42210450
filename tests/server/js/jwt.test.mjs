// jwt.test.mjs - r1 serve --auth jwt against tokens minted independently
// with the `jose` package (keys from jwt_keys.mjs): every way a token can be
// wrong gets the status and WWW-Authenticate of RFC 6750, scopes decide per
// endpoint, and keys rotate (SIGHUP) while requests run, none failing.
//   R1_URL, R1_PID (the server), JWT_DIR (keys and the served jwks.json),
//   JWT_ISSUER, JWT_AUDIENCE
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { SignJWT, base64url, importJWK } from 'jose';
import { BASE, PID, sleep } from './lib.mjs';

const dir = process.env.JWT_DIR;
const ISS = process.env.JWT_ISSUER;
const AUD = process.env.JWT_AUDIENCE;
const keys = JSON.parse(readFileSync(`${dir}/private.json`, 'utf8'));
const now = () => Math.floor(Date.now() / 1000);

async function mint(kid, claims = {}, { header = {}, exp = now() + 300 } = {}) {
    const k = keys[kid];
    const jwt = new SignJWT({ scope: 'chat', ...claims })
        .setProtectedHeader({ alg: k.alg, kid, ...header })
        .setIssuedAt()
        .setSubject(claims.sub || 'alice')
        .setIssuer(claims.iss || ISS)
        .setAudience(claims.aud || AUD);
    if (exp !== null) jwt.setExpirationTime(exp);
    return jwt.sign(await importJWK(k.private, k.alg));
}

async function call(token, path = '/v1/chat/completions') {
    const init = { headers: token === undefined ? {} : { Authorization: `Bearer ${token}` } };
    if (path.includes('completions')) {
        init.method = 'POST';
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
    }
    const res = await fetch(BASE + path, init);
    return { status: res.status, www: res.headers.get('www-authenticate'), body: await res.text() };
}

function expectInvalid(r, what) {
    assert.equal(r.status, 401, `${what}: ${r.status} ${r.body}`);
    assert.match(r.www, /^Bearer realm="r1", error="invalid_token", error_description="[^"]+"$/, `${what}: ${r.www}`);
    assert.equal(JSON.parse(r.body).error.type, 'authentication_error');
}

test('valid RS256 and ES256 tokens are served', async () => {
    for (const kid of ['k-rsa', 'k-ec']) assert.equal((await call(await mint(kid))).status, 200, kid);
});

test('scope forms: scope string with extras, scp array', async () => {
    assert.equal((await call(await mint('k-rsa', { scope: 'models.read chat admin' }))).status, 200);
    assert.equal((await call(await mint('k-rsa', { scope: undefined, scp: ['chat'] }))).status, 200);
});

test('no token: 401 with a bare challenge; /health and /ready stay open', async () => {
    const r = await call(undefined);
    assert.equal(r.status, 401);
    assert.equal(r.www, 'Bearer realm="r1"');
    for (const p of ['/health', '/ready']) assert.equal((await fetch(BASE + p)).status, 200, p);
});

test('every bad token is 401 invalid_token', async () => {
    expectInvalid(await call(await mint('k-rsa', {}, { exp: now() - 3600 })), 'expired');
    expectInvalid(await call(await mint('k-rsa', { nbf: now() + 3600 })), 'not yet valid');
    expectInvalid(await call(await mint('k-rsa', { iss: 'https://evil.example' })), 'wrong issuer');
    expectInvalid(await call(await mint('k-rsa', { aud: 'someone-else' })), 'wrong audience');
    expectInvalid(await call(await mint('k-next')), 'unknown kid');
    const good = await mint('k-rsa');
    const [h, p, s] = good.split('.');
    const flipped = s[5] === 'A' ? 'B' : 'A';
    expectInvalid(await call(`${h}.${p}.${s.slice(0, 5)}${flipped}${s.slice(6)}`), 'tampered signature');
    const payload = JSON.parse(Buffer.from(base64url.decode(p)).toString());
    payload.sub = 'mallory';
    expectInvalid(await call(`${h}.${base64url.encode(JSON.stringify(payload))}.${s}`), 'tampered payload');
    const none = base64url.encode(JSON.stringify({ alg: 'none', kid: 'k-rsa' }));
    expectInvalid(await call(`${none}.${p}.`), 'alg none');
    // algorithm confusion: HS256 keyed with the RSA public key's PEM text
    const { createHmac, createPublicKey } = await import('node:crypto');
    const pem = createPublicKey({ key: keys['k-rsa'].public, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const hh = base64url.encode(JSON.stringify({ alg: 'HS256', kid: 'k-rsa' }));
    const mac = createHmac('sha256', pem).update(`${hh}.${p}`).digest();
    expectInvalid(await call(`${hh}.${p}.${base64url.encode(mac)}`), 'HS256 with the RSA public key');
    expectInvalid(await call('not.a.jwt'), 'garbage');
});

test('a missing scope is 403 insufficient_scope naming it', async () => {
    const r = await call(await mint('k-rsa', { scope: 'models.read' }));
    assert.equal(r.status, 403, r.body);
    assert.match(r.www, /error="insufficient_scope"/);
    assert.match(r.www, /scope="chat"/);
    assert.equal((await call(await mint('k-rsa', { scope: 'models.read' }), '/v1/models')).status, 200);
    assert.equal((await call(await mint('k-rsa', { scope: 'chat' }), '/metrics')).status, 403);
    assert.equal((await call(await mint('k-rsa', { scope: 'admin' }), '/metrics')).status, 200);
});

function writeJwks(kids) {
    writeFileSync(`${dir}/jwks.tmp`, JSON.stringify({ keys: kids.map((k) => keys[k].public) }));
    renameSync(`${dir}/jwks.tmp`, `${dir}/jwks.json`); /* atomic: the server never reads half a file */
}

test('key rotation under load: add the new key, move to it, retire the old, no request fails', async () => {
    let stop = false, sent = 0;
    const failures = [];
    let current = 'k-rsa';
    const load = (async () => {
        while (!stop) {
            const kid = current;
            const r = await call(await mint(kid));
            sent++;
            if (r.status !== 200) failures.push(`${kid}: ${r.status} ${r.body}`);
        }
    })();
    await sleep(300);
    writeJwks(['k-rsa', 'k-ec', 'k-next']); /* 1. publish the new key next to the old */
    process.kill(PID, 'SIGHUP');
    await sleep(500);
    current = 'k-next'; /* 2. the issuer signs with the new key */
    await sleep(500);
    writeJwks(['k-next']); /* 3. retire the old keys */
    process.kill(PID, 'SIGHUP');
    await sleep(300);
    stop = true;
    await load;
    assert.deepEqual(failures, []);
    assert.ok(sent > 5, `only ${sent} requests ran during the rotation`);
    expectInvalid(await call(await mint('k-rsa')), 'a retired key');
    assert.equal((await call(await mint('k-next'))).status, 200);
});
