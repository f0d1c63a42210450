/*
 * app.js - what the web page of `r1 serve` does (index.html). All of it
 * talks to the same server's OpenAI-style API:
 *   GET  /v1/models                the model to name in requests
 *   POST /v1/chat/completions      streamed (SSE): R1's reasoning arrives in
 *                                  delta.reasoning_content, the answer in
 *                                  delta.content; usage in the last chunk
 *   POST /v1/audio/transcriptions  the microphone's recording, as a WAV
 *   POST /v1/audio/speech          a finished answer read out (speaker on)
 * The conversation is the messages array sent with every question; it
 * keeps the answers but not the reasoning, as DeepSeek advises (the
 * reasoning of earlier turns is not meant to be fed back).
 * Text from the server only ever goes into textContent, never innerHTML.
 */
'use strict';

const $ = (id) => document.getElementById(id);
const els = {
  log: $('log'), empty: $('empty'), input: $('input'), form: $('ask'), send: $('send'), mic: $('mic'),
  speaker: $('speaker'), model: $('model'), notice: $('notice'), newChat: $('new-chat'),
  settings: $('settings'), settingsForm: $('settings-form'), openSettings: $('open-settings'),
  closeSettings: $('close-settings'), token: $('token'), maxTokens: $('max-tokens'), forget: $('forget-token'),
};

const LONGEST_RECORDING_S = 120; // 48 kHz 16-bit mono: 11 MB, under the server's 25 MiB upload limit
const LONGEST_SPEECH_CHARS = 4096; // the server's default --max-speech-chars (and OpenAI's limit)

const state = {
  messages: [],        // the conversation: {role, content}
  model: null,         // the chat model's id; null: leave "model" out (the server then uses its own)
  busy: null,          // the AbortController of the answer being streamed
  recorder: null,      // the microphone while it records
};

/* ---- settings (local storage: per origin, so per server) ---- */

const store = {
  get(key) { try { return localStorage.getItem('r1.' + key) || ''; } catch { return ''; } },
  set(key, value) {
    try { value ? localStorage.setItem('r1.' + key, value) : localStorage.removeItem('r1.' + key); } catch { /* private mode */ }
  },
};

function headers(extra) {
  const h = Object.assign({}, extra);
  const token = store.get('token');
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

/* ---- messages on the page ---- */

function notice(text) {
  els.notice.textContent = text || '';
  els.notice.hidden = !text;
}

/* The server's error body ({"error":{"message","code"}}) as one sentence. */
async function errorText(res) {
  let message = `${res.status} ${res.statusText}`, code = '';
  try {
    const body = await res.json();
    if (body && body.error) {
      message = body.error.message || message;
      code = body.error.code || '';
    }
  } catch { /* not JSON */ }
  if (res.status === 401) message += ' - set an API token in Settings (the gear button).';
  if (res.status === 403) message += ' - the token lacks the scope this needs.';
  return { message, code };
}

function scrollToEnd() {
  // only when the reader is already near the end: do not yank them back down
  const root = document.scrollingElement;
  if (root.scrollHeight - root.scrollTop - root.clientHeight < 160) window.scrollTo(0, root.scrollHeight);
}

function addMessage(role, text) {
  els.empty.hidden = true;
  const li = document.createElement('li');
  li.className = 'msg ' + role;
  const content = document.createElement('div');
  content.className = 'content';
  content.textContent = text || '';
  li.append(content);
  els.log.append(li);
  scrollToEnd();
  return { li, content };
}

/* An answer: the reasoning block (made when the first reasoning arrives),
 * the content, and a line of numbers once it is done. */
function addAnswer() {
  const view = addMessage('assistant', '');
  view.li.setAttribute('aria-busy', 'true');
  view.content.classList.add('pending');
  view.reasoning = null;
  view.reasoningText = null;
  return view;
}

function reasoningBlock(view) {
  if (!view.reasoning) {
    const d = document.createElement('details');
    d.className = 'reasoning';
    d.open = true;
    const s = document.createElement('summary');
    s.textContent = 'Reasoning';
    const t = document.createElement('div');
    t.className = 'reasoning-text';
    d.append(s, t);
    view.li.insertBefore(d, view.content);
    view.reasoning = d;
    view.reasoningText = t;
    view.reasoningSummary = s;
  }
  return view.reasoningText;
}

function stats(view, text, isError) {
  const p = document.createElement('p');
  p.className = isError ? 'stats error' : 'stats';
  p.textContent = text;
  view.li.append(p);
  return p;
}

/* ---- the model ---- */

async function loadModel() {
  try {
    const res = await fetch('/v1/models', { headers: headers() });
    if (!res.ok) {
      const e = await errorText(res);
      els.model.textContent = 'model: ?';
      els.model.title = e.message;
      if (res.status === 401 || res.status === 403) notice(e.message);
      return;
    }
    const list = (await res.json()).data || [];
    // The server lists its chat model first and the Whisper model (with
    // --whisper-model) after it; both say owned_by "r1", so the order is
    // what tells them apart (http_routes.c, models()).
    const chat = list[0];
    state.model = chat ? chat.id : null;
    els.model.textContent = state.model || 'no model';
    els.model.title = list.length > 1 ? 'speech: ' + list.slice(1).map((m) => m.id).join(', ') : 'the model that answers';
  } catch (err) {
    els.model.textContent = 'offline';
    els.model.title = String(err);
  }
}

/* ---- asking ---- */

/* Reads an SSE body, calling onData with each event's JSON. */
async function readEvents(res, onData) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith('data:')) continue; // blank lines end events; ":" lines are comments
      const data = line.slice(5).trim();
      if (data === '[DONE]') return;
      onData(JSON.parse(data));
    }
    if (done) return;
  }
}

function setBusy(controller) {
  state.busy = controller;
  els.send.textContent = controller ? 'Stop' : 'Send';
  els.send.classList.toggle('stop', !!controller);
  els.send.setAttribute('aria-label', controller ? 'Stop the answer' : 'Send');
}

async function ask(text) {
  notice('');
  addMessage('user', text);
  state.messages.push({ role: 'user', content: text });
  const view = addAnswer();
  const controller = new AbortController();
  setBusy(controller);

  const body = { messages: state.messages, stream: true, stream_options: { include_usage: true } };
  if (state.model) body.model = state.model;
  const maxTokens = parseInt(store.get('max_tokens'), 10);
  if (maxTokens > 0) body.max_tokens = maxTokens;

  const sent = performance.now();
  let firstAt = 0, lastAt = 0, reasoningEndAt = 0, tokens = 0, usage = null, finish = null;
  let content = '', reasoning = '';
  try {
    const res = await fetch('/v1/chat/completions', {
      method: 'POST', headers: headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify(body), signal: controller.signal,
    });
    if (!res.ok) throw new Error((await errorText(res)).message);
    await readEvents(res, (chunk) => {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices && chunk.choices[0];
      if (!choice) return;
      const delta = choice.delta || {};
      const now = performance.now();
      if (delta.reasoning_content) {
        reasoning += delta.reasoning_content;
        reasoningBlock(view).textContent = reasoning;
      }
      if (delta.content) {
        if (!content && reasoning) reasoningEndAt = now;
        content += delta.content;
        view.content.textContent = content;
      }
      if (delta.reasoning_content || delta.content) {
        if (!firstAt) firstAt = now;
        lastAt = now;
        tokens++; // one chunk per token; usage, when it comes, has the exact count
        view.content.classList.toggle('pending', !content);
        scrollToEnd();
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    });
  } catch (err) {
    if (err.name !== 'AbortError') stats(view, 'Error: ' + err.message, true);
  } finally {
    setBusy(null);
    view.li.removeAttribute('aria-busy');
    view.content.classList.remove('pending');
  }
  if (view.reasoning) {
    const thought = ((reasoningEndAt || lastAt) - firstAt) / 1000;
    view.reasoningSummary.textContent = `Reasoning (${thought.toFixed(1)} s)`;
  }
  if (firstAt) {
    const n = usage ? usage.completion_tokens : tokens;
    const seconds = (lastAt - firstAt) / 1000;
    const parts = [`${n} tokens`];
    // the decoding speed: from the first token to the last (n - 1 gaps)
    if (n > 1 && seconds > 0) parts.push(`${((n - 1) / seconds).toFixed(1)} tokens/s`);
    parts.push(`first token ${Math.round(firstAt - sent)} ms`);
    if (controller.signal.aborted) parts.push('stopped');
    else if (finish === 'length') parts.push('cut at the token limit');
    else if (finish === 'error') parts.push('the server failed');
    stats(view, parts.join(' · '), finish === 'error');
  } else if (controller.signal.aborted) {
    stats(view, 'stopped', false);
  }
  // The conversation keeps what was answered, even if stopped part way,
  // so that the next question follows what the reader saw.
  if (content || firstAt) state.messages.push({ role: 'assistant', content });
  else state.messages.pop(); // nothing came back: the question goes too, so that it can be asked again
  if (content && !controller.signal.aborted && els.speaker.getAttribute('aria-pressed') === 'true') speak(view, content);
}

/* ---- speaker: answers read out ---- */

async function speak(view, text) {
  const input = text.length > LONGEST_SPEECH_CHARS ? text.slice(0, LONGEST_SPEECH_CHARS) : text;
  try {
    const res = await fetch('/v1/audio/speech', {
      method: 'POST', headers: headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify({ model: 'tts-1', input, voice: 'alloy', response_format: 'wav' }),
    });
    if (!res.ok) throw new Error((await errorText(res)).message);
    const blob = await res.blob();
    // A player under the answer: it plays at once, and can be played again.
    const audio = document.createElement('audio');
    audio.controls = true;
    audio.className = 'spoken';
    audio.src = URL.createObjectURL(blob);
    view.li.append(audio);
    audio.play().catch(() => { /* the browser wants a click first: the controls are there */ });
  } catch (err) {
    stats(view, 'Could not read the answer aloud: ' + err.message, true);
  }
}

/* ---- microphone: speech to text ---- */

/* Float samples in [-1, 1] as a 16-bit PCM mono WAV. */
function wavFile(chunks, rate) {
  const n = chunks.reduce((sum, c) => sum + c.length, 0);
  const buf = new ArrayBuffer(44 + n * 2);
  const v = new DataView(buf);
  const text = (at, s) => { for (let i = 0; i < s.length; i++) v.setUint8(at + i, s.charCodeAt(i)); };
  text(0, 'RIFF'); v.setUint32(4, 36 + n * 2, true); text(8, 'WAVE');
  text(12, 'fmt '); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  text(36, 'data'); v.setUint32(40, n * 2, true);
  let at = 44;
  for (const c of chunks) {
    for (let i = 0; i < c.length; i++, at += 2) {
      const s = Math.max(-1, Math.min(1, c[i]));
      v.setInt16(at, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
  }
  return new Blob([buf], { type: 'audio/wav' });
}

function micState(name) {
  els.mic.classList.toggle('recording', name === 'recording');
  els.mic.classList.toggle('working', name === 'working');
  els.mic.setAttribute('aria-pressed', name === 'recording' ? 'true' : 'false');
  els.mic.disabled = name === 'working' || name === 'starting';
  const label = {
    idle: 'Speak a message', starting: 'Opening the microphone…', recording: 'Stop recording and transcribe',
    working: 'Transcribing…',
  }[name];
  els.mic.title = label;
  els.mic.setAttribute('aria-label', label);
}

async function startRecording() {
  if (!navigator.mediaDevices || !window.AudioWorkletNode) {
    notice(window.isSecureContext ? 'This browser cannot record audio.'
      : 'The microphone needs HTTPS (or http://localhost): start r1 serve with --tls-cert and --tls-key.');
    return;
  }
  notice('');
  micState('starting'); // a second click while the browser asks for the microphone would start a second recording
  let stream = null, ctx = null;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
    ctx = new AudioContext();
    await ctx.audioWorklet.addModule('/web/recorder.js');
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, 'r1-recorder');
    const rec = { stream, ctx, source, node, chunks: [], samples: 0, timer: 0, done: null };
    rec.finished = new Promise((resolve) => { rec.done = resolve; });
    node.port.onmessage = (e) => {
      rec.chunks.push(e.data.samples);
      rec.samples += e.data.samples.length;
      if (e.data.last) rec.done();
    };
    source.connect(node);
    state.recorder = rec;
    rec.timer = setTimeout(stopRecording, LONGEST_RECORDING_S * 1000);
    micState('recording');
  } catch (err) {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (ctx) ctx.close();
    notice('No microphone: ' + err.message);
    micState('idle');
  }
}

async function stopRecording() {
  const rec = state.recorder;
  if (!rec) return;
  state.recorder = null;
  clearTimeout(rec.timer);
  micState('working');
  rec.node.port.postMessage('flush');
  await rec.finished;
  rec.source.disconnect();
  rec.stream.getTracks().forEach((t) => t.stop());
  const rate = rec.ctx.sampleRate;
  await rec.ctx.close();
  try {
    if (rec.samples < rate / 10) throw new Error('the recording is too short');
    const form = new FormData();
    form.append('file', wavFile(rec.chunks, rate), 'speech.wav');
    form.append('model', 'whisper-1');
    form.append('response_format', 'json');
    const res = await fetch('/v1/audio/transcriptions', { method: 'POST', headers: headers(), body: form });
    if (!res.ok) {
      const e = await errorText(res);
      throw new Error(e.code === 'no_speech_model'
        ? 'This server has no speech model: start r1 serve with --whisper-model FILE.bin to use the microphone.'
        : e.message);
    }
    const text = ((await res.json()).text || '').trim();
    // appended to what is typed already, for the reader to check and send
    els.input.value = els.input.value ? els.input.value.replace(/\s*$/, ' ') + text : text;
    fitInput();
    els.input.focus();
  } catch (err) {
    notice('Transcription failed: ' + err.message);
  } finally {
    micState('idle');
  }
}

/* ---- wiring ---- */

function fitInput() {
  // grow with the text up to 8 lines, then scroll
  els.input.rows = Math.min(8, Math.max(1, els.input.value.split('\n').length));
}

function submit() {
  if (state.busy) {
    state.busy.abort();
    return;
  }
  const text = els.input.value.trim();
  if (!text) return;
  els.input.value = '';
  fitInput();
  ask(text);
}

els.form.addEventListener('submit', (e) => {
  e.preventDefault();
  submit();
});
els.input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    if (!state.busy) submit();
  } else if (e.key === 'Escape' && state.busy) {
    state.busy.abort();
  }
});
els.input.addEventListener('input', fitInput);

els.mic.addEventListener('click', () => (state.recorder ? stopRecording() : startRecording()));

function setSpeaker(on) {
  els.speaker.setAttribute('aria-pressed', on ? 'true' : 'false');
  els.speaker.title = on ? 'Answers are read aloud (click to stop)' : 'Read answers aloud';
  store.set('speaker', on ? '1' : '');
}
els.speaker.addEventListener('click', () => setSpeaker(els.speaker.getAttribute('aria-pressed') !== 'true'));

els.newChat.addEventListener('click', () => {
  if (state.busy) state.busy.abort();
  state.messages = [];
  els.log.replaceChildren();
  els.empty.hidden = false;
  notice('');
  els.input.focus();
});

els.openSettings.addEventListener('click', () => {
  els.token.value = store.get('token');
  els.maxTokens.value = store.get('max_tokens');
  els.settings.showModal();
});
els.closeSettings.addEventListener('click', () => els.settings.close());
els.forget.addEventListener('click', () => {
  els.token.value = '';
  store.set('token', '');
});
els.settingsForm.addEventListener('submit', (e) => {
  e.preventDefault();
  store.set('token', els.token.value.trim());
  const n = parseInt(els.maxTokens.value, 10);
  store.set('max_tokens', n > 0 ? String(n) : '');
  els.settings.close();
  notice('');
  loadModel(); // the new token may see what the old one could not
});
els.settings.addEventListener('close', () => els.input.focus());

setSpeaker(store.get('speaker') === '1');
loadModel();
els.input.focus();
