// The agent desktop: one WebSocket to the engine (state, offers, SDP, screen pop), one
// RTCPeerConnection per answered call (G.711 over DTLS-SRTP to the engine's ICE-lite peer).
// Plain ES module, no build step. Stable hooks for tests and monitoring: data-action on the
// buttons, data-field on what the page shows, data-state on the state element.

import { applyI18n, t, toggleLanguage } from './i18n.js';

const $ = (sel) => document.querySelector(sel);
const field = (name) => document.querySelector(`[data-field="${name}"]`);
const action = (name) => document.querySelector(`[data-action="${name}"]`);
const csrf = document.querySelector('meta[name="csrf"]').content;

let ws = null;
let state = 'signed_out';
let reason = null;
let pauseReasons = [];
let transferChoices = { queues: [], targets: [], agents: [] };
let autoAnswer = false;
// The call on screen: { leg, pop, phase: 'ringing'|'connecting'|'talking'|'wrapup', pc, stream }.
let call = null;
let ringer = null;
let muted = false;
let held = false;

// What the agent did while the socket was still opening (a click right after the page
// loaded): sent as soon as it opens, not lost.
let unsent = [];

function send(msg) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  else if (ws && ws.readyState === WebSocket.CONNECTING) unsent.push(msg);
}

function notice(text) {
  const p = $('#notice');
  p.textContent = text || '';
  p.hidden = !text;
}

// ---- state --------------------------------------------------------------------------------

function showState() {
  const el = field('state');
  el.dataset.state = state;
  el.textContent = t(`state.${state}`);
  field('reason').textContent = state === 'paused' && reason ? `(${t(`pause.${reason}`)})` : '';
  action('ready').disabled = !['signed_out', 'paused', 'wrap_up'].includes(state) || (call && call.phase === 'wrapup' && false);
  action('pause').disabled = ['ringing', 'on_call'].includes(state);
}

function fillTransfer() {
  const sel = document.querySelector('select[name="transfer-to"]');
  const opts = [];
  for (const q of transferChoices.queues || []) {
    const o = document.createElement('option');
    o.value = `queue:${q}`;
    o.textContent = `${t('pop.queue')} — ${q}`;
    opts.push(o);
  }
  for (const tg of transferChoices.targets || []) {
    const o = document.createElement('option');
    o.value = `target:${tg.name}`;
    o.textContent = tg.label || tg.name;
    opts.push(o);
  }
  for (const a of transferChoices.agents || []) {
    const o = document.createElement('option');
    o.value = `agent:${a}`;
    o.textContent = `${t('transfer.agent')} — ${a}`;
    opts.push(o);
  }
  sel.replaceChildren(...opts);
}

function fillPauseReasons() {
  const sel = document.querySelector('select[name="pause-reason"]');
  sel.replaceChildren(...pauseReasons.map((r) => {
    const o = document.createElement('option');
    o.value = r;
    o.textContent = t(`pause.${r}`);
    return o;
  }));
}

// ---- the screen pop ---------------------------------------------------------------------------

function fmtWait(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

function showPop(pop, history) {
  field('caller').textContent = pop.caller || '—';
  field('caller-name').textContent = pop.caller_name ? `(${pop.caller_name})` : '';
  field('language').textContent = t(`lang.${pop.language}`);
  field('language').dataset.value = pop.language;
  field('queue').textContent = pop.topic && pop.topic !== pop.queue ? `${pop.queue} — ${pop.topic}` : pop.queue;
  field('path').textContent = (pop.path || []).join(' → ');
  field('waited').textContent = pop.queued_at_ms ? fmtWait(Date.now() - pop.queued_at_ms) : '—';
  const k = field('knowledge');
  k.replaceChildren();
  if (pop.knowledge) {
    const a = document.createElement('a');
    a.href = pop.knowledge[1];
    a.textContent = pop.knowledge[0];
    a.target = '_blank';
    a.rel = 'noopener';
    k.append(a);
  }
  const cb = field('callback');
  cb.textContent = pop.callback || '';
  document.querySelector('[data-show="callback"]').hidden = !pop.callback;
  cb.hidden = !pop.callback;
  const h = field('history');
  h.replaceChildren();
  if (!history.length) {
    const li = document.createElement('li');
    li.textContent = t('pop.no_history');
    h.append(li);
  }
  for (const c of history) {
    const li = document.createElement('li');
    const when = new Date(c.start_ms).toLocaleString(document.documentElement.lang);
    const about = c.topic || c.queue || '';
    li.textContent = [when, about, c.outcome, c.agent, c.disposition, c.note].filter(Boolean).join(' · ');
    li.dataset.call = c.call;
    h.append(li);
  }
  const d = field('disposition');
  d.replaceChildren(...(pop.dispositions.length ? pop.dispositions : ['information', 'request', 'transferred']).map((code) => {
    const o = document.createElement('option');
    o.value = code;
    o.textContent = code;
    return o;
  }));
}

function showCall() {
  const section = $('#call');
  section.hidden = !call;
  if (!call) return;
  section.dataset.phase = call.phase;
  $('.ringing-actions').hidden = call.phase !== 'ringing';
  $('.call-actions').hidden = !['connecting', 'talking'].includes(call.phase);
  $('#wrapup').hidden = call.phase !== 'wrapup';
  action('hold').textContent = t(held ? 'action.resume' : 'action.hold');
  // A consultation: only complete or cancel it (or hang up).
  const consulting = !!call.consult;
  action('consult-complete').hidden = !consulting;
  action('consult-complete').disabled = call.consult !== 'talking';
  action('consult-cancel').hidden = !consulting;
  for (const a of ['hold', 'transfer', 'consult']) action(a).disabled = consulting;
  action('mute').textContent = t(muted ? 'action.mute' : 'action.unmute');
}

// ---- ringing ----------------------------------------------------------------------------------

function ring(on) {
  if (on && !ringer) {
    try {
      const ac = new AudioContext();
      const gain = ac.createGain();
      gain.gain.value = 0;
      gain.connect(ac.destination);
      const osc = ac.createOscillator();
      osc.frequency.value = 440;
      osc.connect(gain);
      osc.start();
      let on = false;
      const timer = setInterval(() => { on = !on; gain.gain.value = on ? 0.1 : 0; }, 1000);
      ringer = { ac, timer };
    } catch (e) { ringer = null; }
  } else if (!on && ringer) {
    clearInterval(ringer.timer);
    ringer.ac.close();
    ringer = null;
  }
}

// ---- audio ------------------------------------------------------------------------------------

async function answer() {
  if (!call || call.phase !== 'ringing') return;
  ring(false);
  call.phase = 'connecting';
  showCall();
  const pc = new RTCPeerConnection({ iceServers: [] });
  call.pc = pc;
  pc.ontrack = (e) => { $('#remote').srcObject = e.streams[0] || new MediaStream([e.track]); };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'failed' && call && call.pc === pc) send({ type: 'hangup', leg: call.leg });
  };
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    call.stream = stream;
    for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
    // G.711 first: the engine bridges to the telephone network without transcoding.
    for (const tr of pc.getTransceivers()) {
      const caps = RTCRtpReceiver.getCapabilities('audio');
      if (tr.setCodecPreferences && caps) {
        const pref = caps.codecs.filter((c) => /PCMU|PCMA|telephone-event/i.test(c.mimeType)
          && (c.clockRate === 8000));
        if (pref.length) tr.setCodecPreferences(pref);
      }
    }
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    send({ type: 'answer', leg: call.leg, sdp: pc.localDescription.sdp });
  } catch (e) {
    notice(String(e));
    send({ type: 'hangup', leg: call.leg });
  }
}

function closeAudio() {
  if (!call) return;
  if (call.pc) { call.pc.close(); call.pc = null; }
  if (call.stream) { for (const tr of call.stream.getTracks()) tr.stop(); call.stream = null; }
  $('#remote').srcObject = null;
}

function keypad() {
  const box = $('.keypad');
  for (const k of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#']) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = k;
    b.dataset.key = k;
    b.addEventListener('click', () => {
      const sender = call && call.pc && call.pc.getSenders().find((s) => s.dtmf);
      if (sender && sender.dtmf.canInsertDTMF) sender.dtmf.insertDTMF(k, 120, 80);
    });
    box.append(b);
  }
}

// ---- the socket -------------------------------------------------------------------------------

function onMessage(m) {
  switch (m.type) {
    case 'hello':
      field('agent').textContent = m.name || m.agent;
      pauseReasons = m.pause_reasons || [];
      transferChoices = m.transfer || transferChoices;
      autoAnswer = m.auto_answer === true;
      fillPauseReasons();
      fillTransfer();
      state = m.state;
      reason = m.reason;
      showState();
      break;
    case 'state':
      state = m.state;
      reason = m.reason;
      showState();
      break;
    case 'offer':
      if (call && call.phase === 'wrapup') {
        // The previous call's disposition was not given: it stays unrecorded.
        closeAudio();
      }
      call = { leg: m.leg, pop: m.pop, phase: 'ringing' };
      held = false;
      muted = false;
      showPop(m.pop, m.history || []);
      showCall();
      notice(m.pop.consult_from ? `${t('consult.from')} ${m.pop.consult_from}` : '');
      send({ type: 'ringing', leg: m.leg });
      // Per agent in agents.toml (the console's roster), or this browser's own choice.
      if (autoAnswer || localStorage.getItem('centrale.autoanswer') === '1') answer();
      else ring(true);
      break;
    case 'sdp':
      if (call && call.leg === m.leg && call.pc) {
        call.pc.setRemoteDescription({ type: 'answer', sdp: m.sdp }).catch((e) => notice(String(e)));
      }
      break;
    case 'connected':
      if (call && call.leg === m.leg) { call.phase = 'talking'; showCall(); }
      break;
    case 'ended':
      if (call && call.leg === m.leg) {
        ring(false);
        const answered = call.phase === 'talking' || call.phase === 'connecting';
        call.consult = null;
        closeAudio();
        if (answered) {
          call.phase = 'wrapup';
          notice(t(`call.ended.${m.by}`) || '');
          showCall();
          field('disposition').focus();
        } else {
          call = null;
          notice(t('call.cancelled'));
          showCall();
        }
      }
      break;
    case 'transfer':
      if (call && call.leg === m.leg && call.consult) {
        // The consultation's progress: ringing, the colleague talking, or it is over.
        if (m.status < 200) { call.consult = 'ringing'; notice(t('consult.ringing')); }
        else if (m.status < 300) { call.consult = 'talking'; notice(t('consult.talking')); }
        else { call.consult = null; held = false; notice(`${t('transfer.failed')} (${m.status})`); }
        showCall();
      } else if (call && call.leg === m.leg) {
        if (m.status < 200) notice(t('transfer.trying'));
        else if (m.status < 300) notice(t('transfer.done'));
        else { notice(`${t('transfer.failed')} (${m.status})`); held = false; showCall(); }
      }
      break;
    case 'error':
      notice(m.message);
      break;
    default:
      break;
  }
}

function connect() {
  ws = new WebSocket(`wss://${location.host}/agent/ws`);
  ws.onmessage = (e) => {
    let m;
    try { m = JSON.parse(e.data); } catch (_) { return; }
    onMessage(m);
  };
  ws.onopen = () => {
    notice('');
    for (const m of unsent) ws.send(JSON.stringify(m));
    unsent = [];
  };
  ws.onclose = async () => {
    unsent = [];
    notice(t('error.socket'));
    ring(false);
    if (call && call.phase !== 'wrapup') { closeAudio(); call = null; showCall(); }
    // An expired session (or a sign-out in another tab) goes back to the sign-in page;
    // anything else (a network hiccup, a restart) reconnects.
    try {
      const r = await fetch('/agent/session', { cache: 'no-store' });
      if (r.status === 401) { location.assign('/agent?error=expired'); return; }
    } catch (_) { /* the server is unreachable: keep trying */ }
    setTimeout(connect, 2000);
  };
}

// ---- the buttons ------------------------------------------------------------------------------

function wire() {
  document.querySelector('#signout input[name="csrf"]').value = csrf;
  action('ready').addEventListener('click', () => send({ type: 'ready' }));
  action('pause').addEventListener('click', () => {
    send({ type: 'pause', reason: document.querySelector('select[name="pause-reason"]').value });
  });
  document.getElementById('signout').addEventListener('submit', () => send({ type: 'signout' }));
  action('answer').addEventListener('click', () => answer());
  action('reject').addEventListener('click', () => {
    if (call) { send({ type: 'reject', leg: call.leg }); ring(false); call = null; showCall(); }
  });
  action('hangup').addEventListener('click', () => { if (call) send({ type: 'hangup', leg: call.leg }); });
  action('hold').addEventListener('click', () => {
    if (!call) return;
    held = !held;
    send({ type: 'hold', leg: call.leg, on: held });
    showCall();
  });
  action('transfer').addEventListener('click', () => {
    if (!call) return;
    const v = document.querySelector('select[name="transfer-to"]').value || '';
    const [kind, name] = [v.slice(0, v.indexOf(':')), v.slice(v.indexOf(':') + 1)];
    if (['queue', 'target', 'agent'].includes(kind)) send({ type: 'transfer', leg: call.leg, to: { [kind]: name } });
  });
  action('consult').addEventListener('click', () => {
    if (!call) return;
    const v = document.querySelector('select[name="transfer-to"]').value || '';
    if (!v.startsWith('agent:')) { notice(t('consult.pick')); return; }
    call.consult = 'ringing';
    held = true;
    send({ type: 'consult', leg: call.leg, agent: v.slice('agent:'.length) });
    notice(t('consult.ringing'));
    showCall();
  });
  action('consult-complete').addEventListener('click', () => {
    if (call && call.consult === 'talking') send({ type: 'consult_complete', leg: call.leg });
  });
  action('consult-cancel').addEventListener('click', () => {
    if (!call || !call.consult) return;
    send({ type: 'consult_cancel', leg: call.leg });
    call.consult = null;
    held = false;
    notice('');
    showCall();
  });
  action('mute').addEventListener('click', () => {
    if (!call || !call.stream) return;
    muted = !muted;
    for (const tr of call.stream.getAudioTracks()) tr.enabled = !muted;
    showCall();
  });
  document.getElementById('wrapup').addEventListener('submit', (e) => {
    e.preventDefault();
    if (!call) return;
    const f = e.target;
    send({ type: 'disposition', call: call.pop.call, code: f.disposition.value, note: f.note.value });
    f.reset();
    call = null;
    showCall();
    notice('');
  });
  document.querySelector('[data-lang-toggle]').addEventListener('click', () => toggleLanguage());
  document.addEventListener('centrale:language', () => { fillPauseReasons(); showState(); showCall(); });
  keypad();
}

applyI18n();
wire();
showState();
showCall();
connect();
