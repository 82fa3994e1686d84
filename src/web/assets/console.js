// The admin and supervisor console: wallboard (server-sent events), the dial plan's files
// (validate, dry run, publish), versions (diff, rollback), the audit log, users.
// Everything goes through the JSON API under /api, with the session's CSRF token on changes.

import { startRecording } from './mic.js';

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const role = document.querySelector('meta[name="console-role"]').content;
const $ = (sel) => document.querySelector(sel);
const field = (name) => document.querySelector(`[data-field="${name}"]`);

let files = [];        // [{name, text}] being edited
let current = 0;       // index of the file shown
let boardSource = null;

function status(msg, isError = false) {
  const s = $('#status');
  s.textContent = msg;
  s.classList.toggle('error', isError);
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let data = {};
  try { data = await r.json(); } catch { /* not JSON */ }
  return { ok: r.ok, status: r.status, data };
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  return td;
}

function row(cells, cls) {
  const tr = document.createElement('tr');
  if (cls) tr.className = cls;
  for (const c of cells) tr.append(c instanceof Node ? c : cell(c));
  return tr;
}

const pct = (v) => (v === null || v === undefined ? '—' : `${v.toFixed(1)} %`);
const when = (ms) => new Date(ms).toLocaleString('fr-CA');
const dur = (s) => (s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`);

// --- tabs -----------------------------------------------------------------------------------
function show(tab) {
  for (const p of document.querySelectorAll('[data-panel]')) p.hidden = p.id !== tab;
  for (const b of document.querySelectorAll('[data-tab]')) b.setAttribute('aria-pressed', String(b.dataset.tab === tab));
  if (tab === 'plan' && files.length === 0) loadPlan();
  if (tab === 'versions') loadVersions();
  if (tab === 'audit') loadAudit();
  if (tab === 'users') loadUsers();
  if (tab === 'storm') loadStorm();
  if (tab === 'prompts') loadPrompts();
  if (tab === 'roster') loadRoster();
  if (tab === 'callbacks') loadCallbacks();
  if (tab === 'voicemails') loadVoicemails();
}
for (const b of document.querySelectorAll('[data-tab]')) b.addEventListener('click', () => show(b.dataset.tab));
if (role !== 'admin') for (const el of document.querySelectorAll('[data-admin]')) el.hidden = true;

// --- wallboard ------------------------------------------------------------------------------
let lastBoard = null;

function drawBoard(b) {
  lastBoard = b;
  field('board-at').textContent = new Date(b.at_ms).toLocaleTimeString('fr-CA');
  field('board-season').textContent = b.season ? `(saison : ${b.season})` : '';
  field('queues').replaceChildren(...b.queues.map((q) => {
    const tr = row([q.name, String(q.waiting), dur(q.longest_wait_s), String(q.staffed),
      pct(q.service_level_today_pct), `${q.target_pct} % en ${q.target_s} s`, pct(q.abandon_today_pct),
      String(q.offered_today)], q.below_target ? 'below-target' : '');
    tr.dataset.queue = q.name;
    tr.dataset.waiting = String(q.waiting);
    return tr;
  }));
  field('agents').replaceChildren(...b.agents.map((a) => {
    const st = cell(a.reason ? `${a.state} (${a.reason})` : a.state);
    st.dataset.state = a.state;
    const tr = row([a.id, st, dur(a.in_state_s), a.on_call ? 'oui' : '', a.registered ? 'enregistré' : '—']);
    tr.dataset.agent = a.id;
    tr.dataset.state = a.state;
    return tr;
  }));
}

function startBoard() {
  if (boardSource) boardSource.close();
  boardSource = new EventSource('/api/wallboard/events');
  boardSource.addEventListener('board', (e) => drawBoard(JSON.parse(e.data)));
  boardSource.addEventListener('unavailable', () => status('Le distributeur d\'appels ne répond pas.', true));
}
$('[data-action="wall"]').addEventListener('click', () => document.body.classList.toggle('wall'));

// --- plan -----------------------------------------------------------------------------------
function keepText() {
  if (files[current]) files[current].text = $('textarea[name="plan-text"]').value;
}

function drawFiles() {
  field('file-tabs').replaceChildren(...files.map((f, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = f.name;
    b.dataset.file = f.name;
    b.setAttribute('aria-pressed', String(i === current));
    b.addEventListener('click', () => { keepText(); current = i; drawFiles(); });
    return b;
  }));
  $('textarea[name="plan-text"]').value = files[current] ? files[current].text : '';
}

async function loadPlan() {
  const r = await api('GET', '/api/plan');
  if (!r.ok) return status(r.data.error || `erreur ${r.status}`, true);
  files = r.data.files;
  current = Math.min(current, files.length - 1);
  field('plan-name').textContent = r.data.name;
  field('plan-version').textContent = r.data.version || '';
  drawFiles();
}

function selectLine(file, line) {
  keepText();
  const i = files.findIndex((f) => f.name === file);
  if (i < 0) return;
  current = i;
  drawFiles();
  const ta = $('textarea[name="plan-text"]');
  const lines = ta.value.split('\n');
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  ta.focus();
  ta.setSelectionRange(start, start + (lines[line - 1] || '').length);
}

function drawDiagnostics(errors = [], warnings = []) {
  field('errors').replaceChildren(...errors.map((e) => {
    const li = document.createElement('li');
    li.textContent = `${e.file}:${e.line}:${e.column} ${e.message}`;
    li.dataset.file = e.file;
    li.dataset.line = String(e.line);
    li.addEventListener('click', () => selectLine(e.file, e.line));
    return li;
  }));
  field('warnings').replaceChildren(...warnings.map((w) => {
    const li = document.createElement('li');
    li.textContent = w;
    return li;
  }));
}

$('[data-action="validate"]').addEventListener('click', async () => {
  keepText();
  const r = await api('POST', '/api/plan/validate', { files });
  drawDiagnostics(r.data.errors, r.data.warnings);
  if (r.ok) status('Le plan est valide.');
  else if (r.data.errors && r.data.errors.length) status(`Le plan a ${r.data.errors.length} erreur(s).`, true);
  else status(r.data.error || `erreur ${r.status}`, true);
  if (r.data.errors && r.data.errors[0]) selectLine(r.data.errors[0].file, r.data.errors[0].line);
});

$('[data-action="dry-run"]').addEventListener('click', async () => {
  keepText();
  const r = await api('POST', '/api/plan/dry-run', {
    files, at: $('input[name="dry-at"]').value, digits: $('input[name="dry-digits"]').value,
  });
  drawDiagnostics(r.data.errors, []);
  field('trace').textContent = r.ok ? r.data.trace : '';
  if (!r.ok) status(r.data.error || 'Essai impossible : le plan a des erreurs.', true);
});

$('[data-action="publish"]').addEventListener('click', async () => {
  keepText();
  const r = await api('POST', '/api/plan/publish', { files, comment: $('input[name="comment"]').value });
  drawDiagnostics(r.data.errors, []);
  if (r.ok) {
    status(`Publié : version ${r.data.version} (${r.data.plan_version}).`);
    field('plan-version').textContent = r.data.plan_version;
    document.body.dataset.published = String(r.data.version);
  } else if (r.data.errors && r.data.errors.length) {
    status(`Le plan a ${r.data.errors.length} erreur(s) : rien n'est publié.`, true);
    selectLine(r.data.errors[0].file, r.data.errors[0].line);
  } else {
    status(r.data.error || `erreur ${r.status}`, true);
  }
});

// --- versions -------------------------------------------------------------------------------
function lineDiff(a, b) {
  // Longest common subsequence of lines; plan files are small.
  const x = a.split('\n'), y = b.split('\n');
  const n = x.length, m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
    L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { i++; j++; }
    else if (j < m && (i === n || L[i][j + 1] >= L[i + 1][j])) out.push(['add', `+ ${y[j++]}`]);
    else out.push(['del', `- ${x[i++]}`]);
  }
  return out;
}

async function showDiff(version) {
  const [old, now] = await Promise.all([api('GET', `/api/plan/versions/${version}`), api('GET', '/api/plan')]);
  if (!old.ok || !now.ok) return status('Versions illisibles.', true);
  const nodes = [];
  const names = new Set([...old.data.files.map((f) => f.name), ...now.data.files.map((f) => f.name)]);
  for (const name of [...names].sort()) {
    const a = (old.data.files.find((f) => f.name === name) || { text: '' }).text;
    const b = (now.data.files.find((f) => f.name === name) || { text: '' }).text;
    const d = lineDiff(a, b);
    if (d.length === 0) continue;
    nodes.push(document.createTextNode(`=== ${name} (version ${version} → en service)\n`));
    for (const [cls, text] of d) {
      const s = document.createElement('span');
      s.className = cls;
      s.textContent = `${text}\n`;
      nodes.push(s);
    }
  }
  if (nodes.length === 0) nodes.push(document.createTextNode('Aucune différence avec le plan en service.'));
  field('diff').replaceChildren(...nodes);
}

async function loadVersions() {
  const r = await api('GET', '/api/plan/versions');
  if (!r.ok) return status(r.data.error || `erreur ${r.status}`, true);
  field('version-rows').replaceChildren(...r.data.versions.map((v) => {
    const actions = document.createElement('td');
    const diff = document.createElement('button');
    diff.type = 'button';
    diff.textContent = 'Différences';
    diff.addEventListener('click', () => showDiff(v.version));
    actions.append(diff);
    if (role === 'admin') {
      const back = document.createElement('button');
      back.type = 'button';
      back.textContent = 'Revenir à cette version';
      back.dataset.rollback = String(v.version);
      back.addEventListener('click', async () => {
        const rr = await api('POST', `/api/plan/rollback/${v.version}`);
        if (rr.ok) { status(`Retour à la version ${v.version} : publié comme version ${rr.data.version}.`); files = []; loadVersions(); }
        else status(rr.data.error || `erreur ${rr.status}`, true);
      });
      actions.append(back);
    }
    return row([String(v.version), when(v.at_ms), v.who, v.comment, actions]);
  }));
}

// --- agents ---------------------------------------------------------------------------------
function button(text, onClick, attrs = {}) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  for (const [k, v] of Object.entries(attrs)) b.dataset[k] = v;
  b.addEventListener('click', onClick);
  return b;
}

async function agentAction(id, action) {
  const r = await api('POST', `/api/agents/${encodeURIComponent(id)}/${action}`, action === 'pause' ? { reason: 'supervisor' } : undefined);
  if (!r.ok) status(r.data.error || `erreur ${r.status}`, true);
  else status(`${id} : ${action}`);
}

async function loadRoster() {
  const r = await api('GET', '/api/roster');
  if (!r.ok) return status(r.data.error || `erreur ${r.status}`, true);
  const states = new Map(((lastBoard && lastBoard.agents) || []).map((a) => [a.id, a]));
  field('roster-rows').replaceChildren(...r.data.agents.map((a) => {
    const live = states.get(a.id);
    const actions = document.createElement('td');
    actions.append(
      button('Pause', () => agentAction(a.id, 'pause')),
      button('Reprise', () => agentAction(a.id, 'resume')),
      button('Déconnecter', () => agentAction(a.id, 'logout')),
    );
    if (role === 'admin') {
      actions.append(button('Retirer', async () => {
        const rr = await api('DELETE', `/api/roster/${encodeURIComponent(a.id)}`);
        if (!rr.ok) status(rr.data.error, true); else status(`${a.id} retiré.`);
        loadRoster();
      }));
    }
    const skills = Object.entries(a.skills || {}).map(([k, v]) => `${k}:${v}`).join(', ');
    const tr = row([a.id, a.name, skills, (a.queues || []).join(', ') || 'toutes',
      (a.seasons || []).join(', ') || 'toutes', live ? `${live.state} (${dur(live.in_state_s)})` : '—', actions]);
    tr.dataset.agent = a.id;
    return tr;
  }));
}
$('.roster-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const v = (n) => $(`input[name="${n}"]`).value.trim() || undefined;
  const r = await api('POST', '/api/roster', {
    id: v('agent-id'), name: v('agent-name'), skills: v('agent-skills'), queues: v('agent-queues'),
    seasons: v('agent-seasons'), password: v('agent-password'),
  });
  if (r.ok) { status(r.data.result); e.target.reset(); loadRoster(); }
  else status(r.data.error || `erreur ${r.status}`, true);
});

// --- callbacks ------------------------------------------------------------------------------
async function loadCallbacks() {
  const r = await api('GET', '/api/callbacks');
  if (!r.ok) return status(r.data.error || `erreur ${r.status}`, true);
  field('callback-rows').replaceChildren(...r.data.callbacks.map((c) => {
    const td = document.createElement('td');
    td.append(button('Annuler', async () => {
      const rr = await api('DELETE', `/api/callbacks/${c.call}`);
      if (!rr.ok) status(rr.data.error, true); else status(`Rappel au ${c.number} annulé.`);
      loadCallbacks();
    }));
    const tr = row([c.queue, String(c.position), c.number || '', c.tracking || '', c.language, dur(c.waiting_s), td]);
    tr.dataset.callback = String(c.call);
    return tr;
  }));
}

// --- storm message --------------------------------------------------------------------------
let queueNames = [];

async function loadStorm() {
  const r = await api('GET', '/api/storm');
  if (!r.ok) return status(r.data.error || `erreur ${r.status}`, true);
  const s = r.data;
  const state = field('storm-state');
  state.textContent = s.active ? (s.queues.length ? `actif (${s.queues.join(', ')})` : 'actif pour tous') : 'inactif';
  if (s.last_24h) {
    state.textContent += ` — entendu par ${s.last_24h.heard} appelant(s) en 24 h, dont ${s.last_24h.hung_up_before_an_agent} ont raccroché avant un agent`;
  }
  state.dataset.active = String(s.active);
  for (const lang of ['fr', 'en']) {
    const at = s.recorded_ms[lang];
    field(`storm-${lang}-at`).textContent = at ? `enregistré le ${when(at)}` : 'aucun enregistrement';
    const audio = field(`storm-${lang}-audio`);
    if (at) audio.src = `/api/storm/audio/${lang}?t=${at}`; else audio.removeAttribute('src');
  }
  const b = await api('GET', '/api/wallboard');
  if (b.ok) queueNames = b.data.queues.map((q) => q.name);
  field('storm-queues').replaceChildren(...queueNames.map((q) => {
    const l = document.createElement('label');
    const c = document.createElement('input');
    c.type = 'checkbox';
    c.value = q;
    c.name = 'storm-queue';
    c.checked = s.queues.includes(q);
    l.append(c, ` ${q} `);
    return l;
  }));
}

for (const lang of ['fr', 'en']) {
  document.querySelector(`input[name="storm-${lang}"]`).addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const r = await fetch(`/api/storm/audio/${lang}`, {
      method: 'PUT', headers: { 'X-CSRF-Token': csrf, 'Content-Type': file.type || 'audio/wav' }, body: file,
    });
    let data = {};
    try { data = await r.json(); } catch { /* 413 from the body limit is not JSON */ }
    if (r.ok) status(`Enregistrement ${lang} reçu (${data.seconds.toFixed(1)} s).`);
    else status(data.error || (r.status === 413 ? 'Fichier trop gros (20 Mo au plus).' : `erreur ${r.status}`), true);
    loadStorm();
  });
}

async function stormSwitch(on) {
  const queues = [...document.querySelectorAll('input[name="storm-queue"]:checked')].map((c) => c.value);
  const r = await api('POST', '/api/storm', { on, queues, until: $('input[name="storm-until"]').value });
  if (r.ok) status(on ? 'Message d\'urgence activé.' : 'Message d\'urgence désactivé.');
  else status(r.data.error || `erreur ${r.status}`, true);
  loadStorm();
}
$('[data-action="storm-on"]').addEventListener('click', () => stormSwitch(true));
$('[data-action="storm-off"]').addEventListener('click', () => stormSwitch(false));

// --- voice messages -------------------------------------------------------------------------
async function loadVoicemails() {
  const r = await api('GET', '/api/voicemails?days=7');
  if (!r.ok) return status(r.data.error || `erreur ${r.status}`, true);
  field('voicemail-rows').replaceChildren(...r.data.voicemails.map((m) => {
    const audio = document.createElement('audio');
    audio.controls = true;
    audio.preload = 'none';
    audio.src = `/api/voicemails/${encodeURIComponent(m.call)}/audio`;
    let done;
    if (m.handled_by) {
      done = `${m.handled_by}, ${when(m.handled_ms)}`;
    } else {
      done = document.createElement('button');
      done.type = 'button';
      done.textContent = 'Marquer traité';
      done.addEventListener('click', async () => {
        const rr = await api('POST', `/api/voicemails/${encodeURIComponent(m.call)}/handled`);
        if (rr.ok) status('Message marqué traité.');
        else status(rr.data.error || `erreur ${rr.status}`, true);
        setTimeout(loadVoicemails, 500);
      });
    }
    return row([when(m.at_ms), m.from, m.language || '', dur(m.seconds), m.tracking, audio, done], m.handled_by ? 'done' : '');
  }));
}

// --- recorded prompts -----------------------------------------------------------------------
async function loadPrompts() {
  const r = await api('GET', '/api/prompts');
  if (!r.ok) return status(r.data.error || `erreur ${r.status}`, true);
  field('prompts-version').textContent = `(version ${r.data.version})`;
  const rows = [];
  for (const p of r.data.prompts) {
    for (const lang of ['fr', 'en']) {
      const info = p[lang];
      const audio = document.createElement('audio');
      audio.controls = true;
      audio.preload = 'none';
      if (info.seconds) audio.src = `/api/prompts/${encodeURIComponent(p.id)}/${lang}?v=${r.data.version}`;
      const up = document.createElement('input');
      up.type = 'file';
      up.accept = 'audio/*';
      up.disabled = role !== 'admin' && !p.info_line;
      up.setAttribute('aria-label', `${p.id} ${lang}`);
      up.addEventListener('change', () => {
        if (up.files[0]) uploadPrompt(p.id, lang, up.files[0]);
      });
      const rec = document.createElement('button');
      rec.type = 'button';
      rec.dataset.record = `${p.id}/${lang}`;
      rec.textContent = 'Enregistrer au micro';
      rec.disabled = up.disabled;
      rec.addEventListener('click', () => toggleRecording(rec, p.id, lang));
      const back = document.createElement('button');
      back.type = 'button';
      back.textContent = 'Revenir';
      back.disabled = role !== 'admin' || info.versions.length === 0;
      back.title = info.versions.length ? `remplacé le ${info.versions[0].replaced}` : 'aucune version précédente';
      back.addEventListener('click', async () => {
        const rr = await api('POST', `/api/prompts/${encodeURIComponent(p.id)}/${lang}/rollback`);
        if (rr.ok) status(`« ${p.id} » (${lang}) : enregistrement précédent remis.`);
        else status(rr.data.error || `erreur ${rr.status}`, true);
        loadPrompts();
      });
      const name = p.info_line ? `${p.id} (ligne d'information)` : p.id;
      const text = `${info.text || ''}${info.recorded ? ` — enregistré le ${info.recorded}` : ''}`;
      const replace = document.createElement('span');
      replace.append(up, rec);
      rows.push(row([name, lang, text, audio, replace, back]));
    }
  }
  field('prompt-rows').replaceChildren(...rows);
}

/** Send a recording (a chosen file or one made with the microphone) for a prompt. */
async function uploadPrompt(id, lang, blob) {
  const res = await fetch(`/api/prompts/${encodeURIComponent(id)}/${lang}`, {
    method: 'PUT', headers: { 'X-CSRF-Token': csrf, 'Content-Type': blob.type || 'audio/wav' }, body: blob,
  });
  let data = {};
  try { data = await res.json(); } catch { /* 413 is not JSON */ }
  if (res.ok) status(`« ${id} » (${lang}) remplacé : ${data.seconds.toFixed(1)} s, en service pour les prochains appels.`);
  else status(data.error || (res.status === 413 ? 'Fichier trop gros (20 Mo au plus).' : `erreur ${res.status}`), true);
  loadPrompts();
}

let recording = null;  // { button, session, timer } while the microphone records

/** First click: record from the microphone; second click: stop and send. */
async function toggleRecording(button, id, lang) {
  if (recording && recording.button === button) {
    const { session, timer } = recording;
    if (!session) return;  // still opening the microphone
    recording = null;
    clearInterval(timer);
    button.textContent = 'Envoi…';
    button.disabled = true;
    const blob = await session.stop();
    await uploadPrompt(id, lang, blob);
    return;
  }
  if (recording) return status('Un enregistrement est déjà en cours.', true);
  recording = { button, session: null, timer: null };  // claimed before the microphone opens
  try {
    const session = await startRecording();
    const timer = setInterval(() => {
      button.textContent = `Arrêter et envoyer (${session.seconds().toFixed(0)} s)`;
    }, 250);
    recording = { button, session, timer };
    button.textContent = 'Arrêter et envoyer';
    button.classList.add('recording');
    status(`Enregistrement de « ${id} » (${lang}) : parlez, puis « Arrêter et envoyer ».`);
  } catch (e) {
    recording = null;
    status(`Micro indisponible : ${e.message || e}`, true);
  }
}

// --- audit, users ---------------------------------------------------------------------------
async function loadAudit() {
  const r = await api('GET', '/api/audit?limit=200');
  if (!r.ok) return status(r.data.error || `erreur ${r.status}`, true);
  field('audit-rows').replaceChildren(...r.data.entries.map((e) =>
    row([when(e.at_ms), e.who, e.action, e.object, e.before || '', e.after || ''])));
}

async function loadUsers() {
  const r = await api('GET', '/api/users');
  if (!r.ok) return status(r.data.error || `erreur ${r.status}`, true);
  field('user-rows').replaceChildren(...r.data.users.map((u) => {
    const del = document.createElement('button');
    del.type = 'button';
    del.textContent = 'Retirer';
    del.addEventListener('click', async () => {
      const rr = await api('DELETE', `/api/users/${encodeURIComponent(u.name)}`);
      if (!rr.ok) status(rr.data.error, true);
      loadUsers();
    });
    const td = document.createElement('td');
    td.append(del);
    return row([u.name, u.role, td]);
  }));
}
$('.user-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await api('POST', '/api/users', {
    name: $('input[name="user-name"]').value, role: $('select[name="user-role"]').value,
    password: $('input[name="user-password"]').value,
  });
  if (r.ok) { status(`Utilisateur ${r.data.name} enregistré.`); e.target.reset(); loadUsers(); }
  else status(r.data.error || `erreur ${r.status}`, true);
});

show('wallboard');
startBoard();
