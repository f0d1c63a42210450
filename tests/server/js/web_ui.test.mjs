// web_ui.test.mjs - the web page of `r1 serve` (web/*) in headless Chromium,
// driven through playwright-core as a user would use it: typing and Enter,
// the microphone button (Chromium's fake capture device plays a WAV file),
// the speaker toggle, the settings dialog. Run by tests/web/test_web_ui.sh,
// which starts the servers and sets:
//   R1_URL          the server
//   R1_WEB_MODE     "full": a scripted chat model ('Hm.</think>Yes') with a
//                   Whisper model, no --auth; "auth": --auth keys and no
//                   Whisper model
//   R1_ALIAS        the chat model's id
//   R1_TOKEN        (auth) a key with chat, models.read, audio.transcribe
//   R1_FAKE_AUDIO   the WAV the fake microphone plays
//   R1_USER_DATA    a fresh, empty browser profile folder
//   R1_SCREENSHOT   (full) where to save a picture of a chat exchange
//   R1_CHROMIUM     the browser (default /usr/bin/chromium)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pw from 'playwright-core';

const { chromium } = pw;
const BASE = process.env.R1_URL;
const MODE = process.env.R1_WEB_MODE || 'full';
const ALIAS = process.env.R1_ALIAS;
for (const name of ['R1_URL', 'R1_ALIAS', 'R1_FAKE_AUDIO', 'R1_USER_DATA'])
    if (!process.env[name]) throw new Error(name + ' must be set (tests/web/test_web_ui.sh sets it)');
if (MODE === 'auth' && !process.env.R1_TOKEN) throw new Error('R1_TOKEN must be set in auth mode');

const SLOW = 180000; // a transcription with the random Whisper model can take half a minute on 2 cores

let context, page;
const consoleErrors = [];
const requests = []; // every request the page made: {method, url, postData, headers}

before(async () => {
    context = await chromium.launchPersistentContext(process.env.R1_USER_DATA, {
        executablePath: process.env.R1_CHROMIUM || '/usr/bin/chromium',
        headless: true,
        viewport: { width: 960, height: 720 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream',
            '--use-fake-device-for-media-stream', '--use-file-for-fake-audio-capture=' + process.env.R1_FAKE_AUDIO],
    });
    page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push('uncaught: ' + e.message));
    page.on('request', (r) => requests.push({ method: r.method(), url: r.url(), post: r.postDataBuffer(), headers: r.headers() }));
    await page.goto(BASE + '/');
});

after(async () => {
    await context?.close();
});

const posted = (path) => requests.filter((r) => r.method === 'POST' && new URL(r.url).pathname === path);

/* Waits for the next POST to path, and for its whole response. */
function nextPost(path) {
    return page.waitForResponse((res) => res.request().method() === 'POST' && new URL(res.url()).pathname === path,
        { timeout: SLOW });
}

async function ask(text) {
    await page.locator('#input').fill(text);
    await page.locator('#input').press('Enter');
    const answer = page.locator('.msg.assistant').last();
    // the line of numbers comes last, when the answer is complete
    await answer.locator('.stats').waitFor({ timeout: 60000 });
    return answer;
}

/* Records for a moment from the fake microphone, then stops: the page
 * uploads the WAV. Returns the upload's response and the body sent. */
async function speakIntoMicrophone() {
    const mic = page.locator('#mic');
    await mic.click();
    await page.waitForFunction(() => document.getElementById('mic').getAttribute('aria-pressed') === 'true');
    await page.waitForTimeout(1500);
    // The network events do not carry a body made of a Blob; an
    // intercepted request does.
    let body = null;
    await page.route('**/v1/audio/transcriptions', (route) => {
        body = route.request().postDataBuffer();
        return route.continue();
    });
    const upload = nextPost('/v1/audio/transcriptions');
    await mic.click();
    const res = await upload;
    await page.unroute('**/v1/audio/transcriptions');
    return { res, body };
}

/* The upload is a multipart form with a 16-bit PCM WAV in "file", model
 * whisper-1 and response_format json, as the brief of the page says. */
function checkUpload(request, body) {
    assert.ok(body, 'the upload has a body');
    const text = body.toString('latin1');
    assert.match(request.headers()['content-type'], /^multipart\/form-data; boundary=/);
    assert.match(text, /name="file"; filename="speech\.wav"\r\nContent-Type: audio\/wav\r\n\r\nRIFF....WAVEfmt /s);
    assert.match(text, /name="model"\r\n\r\nwhisper-1\r\n/);
    assert.match(text, /name="response_format"\r\n\r\njson\r\n/);
    const riff = body.indexOf('RIFF');
    assert.equal(body.readUInt16LE(riff + 20), 1, 'PCM');
    assert.equal(body.readUInt16LE(riff + 34), 16, '16 bits per sample');
    const dataBytes = body.readUInt32LE(riff + 40);
    const rate = body.readUInt32LE(riff + 24);
    assert.ok(dataBytes / 2 / rate > 1, `more than a second recorded (${dataBytes / 2 / rate} s at ${rate} Hz)`);
}

if (MODE === 'full') {
    test('the page loads: title, the chat model from /v1/models, the composer has the focus', async () => {
        assert.equal(await page.title(), 'r1 chat');
        await page.waitForFunction((alias) => document.getElementById('model').textContent === alias, ALIAS);
        assert.equal(await page.evaluate(() => document.activeElement.id), 'input');
        assert.match(await page.locator('#empty').innerText(), /Enter/);
    });

    test('Enter sends; the answer streams in with its reasoning in a block of its own', async () => {
        const chat = nextPost('/v1/chat/completions');
        const answer = await ask('Is it?');
        const res = await chat;
        const sent = JSON.parse(res.request().postData());
        assert.equal(sent.stream, true);
        assert.equal(sent.model, ALIAS, 'the chat model, not the Whisper one');
        assert.deepEqual(sent.messages, [{ role: 'user', content: 'Is it?' }]);
        assert.match(res.headers()['content-type'], /^text\/event-stream/);
        assert.equal(await page.locator('.msg.user').last().innerText(), 'Is it?');
        assert.equal(await answer.locator('.content').innerText(), 'Yes');
        const reasoning = answer.locator('details.reasoning');
        assert.equal(await reasoning.evaluate((d) => d.open), true);
        assert.equal(await reasoning.locator('.reasoning-text').innerText(), 'Hm.');
        assert.match(await reasoning.locator('summary').innerText(), /^Reasoning \(\d+\.\d s\)$/);
        // 15 tokens: H m . < / t h i n k > Y e s and the end (usage of the last chunk)
        assert.match(await answer.locator('.stats').innerText(), /^15 tokens · \d+(\.\d)? tokens\/s · first token \d+ ms$/);
        assert.equal(await page.locator('#send').innerText(), 'Send', 'the Stop button is Send again');
        assert.equal(await page.locator('#input').inputValue(), '', 'the box is emptied');
    });

    test('the conversation is kept: the next question carries the answer, not the reasoning', async () => {
        const chat = nextPost('/v1/chat/completions');
        await ask('Sure?');
        const sent = JSON.parse((await chat).request().postData());
        assert.deepEqual(sent.messages, [
            { role: 'user', content: 'Is it?' },
            { role: 'assistant', content: 'Yes' },
            { role: 'user', content: 'Sure?' },
        ]);
        assert.equal(await page.locator('.msg.assistant').count(), 2);
    });

    test('a picture of the exchange (docs/web-ui.png)', { skip: !process.env.R1_SCREENSHOT }, async () => {
        await page.screenshot({ path: process.env.R1_SCREENSHOT });
    });

    test('the reasoning folds away with the keyboard', async () => {
        const summary = page.locator('details.reasoning summary').first();
        await summary.focus();
        await page.keyboard.press('Enter');
        assert.equal(await page.locator('details.reasoning').first().evaluate((d) => d.open), false);
        await page.keyboard.press('Enter');
        assert.equal(await page.locator('details.reasoning').first().evaluate((d) => d.open), true);
    });

    test('the microphone: a WAV goes to /v1/audio/transcriptions and its text lands in the box', { timeout: SLOW + 30000 },
        async () => {
            const { res, body } = await speakIntoMicrophone();
            checkUpload(res.request(), body);
            assert.equal(res.status(), 200);
            const answered = (await res.json()).text;
            assert.equal(typeof answered, 'string');
            // random weights: the words mean nothing, but they must be exactly these
            await page.waitForFunction(() => document.getElementById('mic').getAttribute('aria-pressed') === 'false'
                && !document.getElementById('mic').disabled);
            assert.equal(await page.locator('#input').inputValue(), answered.trim());
            assert.equal(await page.locator('#notice').isVisible(), false, 'no error shown');
            assert.equal(await page.evaluate(() => document.activeElement.id), 'input', 'ready to edit and send');
            await page.locator('#input').fill('');
        });

    test('the speaker toggle: a finished answer is sent to /v1/audio/speech and played', async () => {
        const speaker = page.locator('#speaker');
        assert.equal(await speaker.getAttribute('aria-pressed'), 'false');
        assert.equal(posted('/v1/audio/speech').length, 0, 'nothing spoken while it is off');
        await speaker.click();
        assert.equal(await speaker.getAttribute('aria-pressed'), 'true');
        const speech = nextPost('/v1/audio/speech');
        const answer = await ask('Again?');
        const res = await speech;
        assert.deepEqual(JSON.parse(res.request().postData()),
            { model: 'tts-1', input: 'Yes', voice: 'alloy', response_format: 'wav' });
        assert.equal(res.status(), 200, 'POST /v1/audio/speech answered');
        assert.equal(res.headers()['content-type'], 'audio/wav');
        const audio = answer.locator('audio.spoken');
        await audio.waitFor({ timeout: 30000 });
        assert.match(await audio.getAttribute('src'), /^blob:/);
        // the browser decoded it: the player knows its length
        await page.waitForFunction((el) => el.duration > 0, await audio.elementHandle(), { timeout: 30000 });
        // the setting is remembered
        await page.reload();
        assert.equal(await page.locator('#speaker').getAttribute('aria-pressed'), 'true');
        await page.locator('#speaker').click();
    });

    test('readable on a phone: nothing wider than the screen, the composer in view', async () => {
        await page.setViewportSize({ width: 375, height: 667 });
        await page.locator('#input').fill('Is it?');
        await page.locator('#input').press('Enter');
        await page.locator('.msg.assistant .stats').last().waitFor({ timeout: 60000 });
        const sizes = await page.evaluate(() => ({
            scroll: document.scrollingElement.scrollWidth, width: window.innerWidth,
            composer: document.querySelector('.composer').getBoundingClientRect().bottom, height: window.innerHeight,
        }));
        assert.ok(sizes.scroll <= sizes.width, `page ${sizes.scroll} px wide on a ${sizes.width} px screen`);
        assert.ok(Math.abs(sizes.composer - sizes.height) < 2, 'the composer sits at the bottom of the screen');
    });

    test('no console errors (a CSP violation would be one)', () => {
        assert.deepEqual(consoleErrors, []);
    });
}

if (MODE === 'auth') {
    // Loading the page needs no credentials; the API calls do.
    const refusals = () => consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of (401|404)/.test(e));

    test('without a token: the page loads and says to set one', async () => {
        assert.equal(await page.title(), 'r1 chat');
        await page.locator('#notice').waitFor();
        assert.match(await page.locator('#notice').innerText(), /API token in Settings/);
    });

    test('the token typed in Settings is sent as a bearer token and kept', async () => {
        await page.locator('#open-settings').click();
        await page.locator('#token').fill(process.env.R1_TOKEN);
        const models = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/models');
        await page.locator('#token').press('Enter');
        assert.equal((await models).status(), 200);
        await page.waitForFunction((alias) => document.getElementById('model').textContent === alias, ALIAS);
        assert.equal(await page.locator('#notice').isVisible(), false);
        const chat = nextPost('/v1/chat/completions');
        const answer = await ask('Is it?');
        assert.equal((await chat).request().headers().authorization, 'Bearer ' + process.env.R1_TOKEN);
        assert.equal(await answer.locator('.content').innerText(), 'Yes');
        await page.reload();
        await page.waitForFunction((alias) => document.getElementById('model').textContent === alias, ALIAS);
    });

    test('a server without a speech model: the microphone says so', async () => {
        const { res } = await speakIntoMicrophone();
        assert.equal(res.status(), 404);
        assert.equal((await res.json()).error.code, 'no_speech_model');
        await page.locator('#notice').waitFor();
        assert.match(await page.locator('#notice').innerText(), /no speech model.*--whisper-model/);
        assert.equal(await page.locator('#mic').isDisabled(), false, 'the button works again');
    });

    test('no console errors but the refusals themselves', () => {
        assert.deepEqual(refusals(), []);
    });
}
