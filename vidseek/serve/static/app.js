// vidseek web page: one vanilla ES module, no build step, no dependencies.
// Every string that comes from the API is put in the page with textContent (via el()), never as HTML.

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const ROUTES = ['visual', 'speech', 'ocr', 'title', 'caption', 'face']; // the Filters checkboxes
const PAGE = 24;
const ACTIVE = new Set(['queued', 'running']);
const VIEWS = ['loading', 'login-view', 'search-view', 'libraries-view', 'people-view'];
// a dropped file that the browser gives no type: a video by its extension
const VIDEO_EXT = /\.(mp4|m4v|mkv|webm|avi|mov|mpe?g|ts|mts|flv|wmv|3gp)$/i;

const state = {
  health: null, me: null, libraries: [], viewSeq: 0, focusSearch: false, lastSearchHash: '',
  image: null, imageUrl: null, imageToken: 0, imageMode: 'image', photoMode: 'image',
  search: null, lastKey: null, searchSeq: 0, askSeq: 0, forceAsk: false,
  lib: null, roots: [],
  jobs: { timer: 0, seq: 0, states: new Map() },
  player: { moments: [], index: 0, card: null, token: 0, videoId: null },
  people: { list: [], selected: new Set(), person: null, moments: [] },
  videoNames: new Map(),
};

// ---------- helpers ----------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c != null && c !== false) node.append(c);
  return node;
}

const token = (s) => String(s ?? '').toLowerCase().replace(/[^a-z0-9_-]/g, '');
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
const truncate = (s, n) => (s.length > n ? s.slice(0, n - 1).trimEnd() + '…' : s);
const joinPath = (dir, name) => (dir ? `${dir}/${name}` : name);
const parentPath = (p) => p.split('/').slice(0, -1).join('/');

function clock(t, digits) { // m:ss(.s), or h:mm:ss(.s) past an hour
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60);
  const s = (t % 60).toFixed(digits).padStart(digits ? 3 + digits : 2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}
const fmtTime = (sec) => clock(Math.round((Number(sec) || 0) * 10) / 10, 1);
const fmtDuration = (sec) => (sec == null ? '–' : clock(Math.round(sec), 0));

function fmtEta(s) {
  if (s < 60) return `~${Math.max(1, Math.round(s))} s`;
  if (s < 3600) return `~${Math.round(s / 60)} min`;
  return `~${(s / 3600).toFixed(1)} h`;
}

function fmtBytes(n) {
  if (n == null) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

const fmtScore = (s) => (Number(s) || 0).toFixed(2);
const badge = (route) => el('span', { class: `badge route-${token(route)}` }, route);

// ---------- API ----------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const FALLBACK = {
  401: 'A valid key is needed.', 404: 'Not found.', 409: 'That name is already taken.',
  413: 'The file is larger than the server allows.', 415: 'That is not a video or audio file.',
};

function detailOf(body, status) {
  const d = body && body.detail;
  if (typeof d === 'string' && d) return d;
  if (Array.isArray(d)) return d.map((x) => (x && x.msg) || String(x)).join('; ');
  return FALLBACK[status] || `The request failed (HTTP ${status}).`;
}

async function api(path, { method = 'GET', json, form, quiet401 = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  const init = { method, credentials: 'same-origin', headers, body: json !== undefined ? JSON.stringify(json) : form };
  let res;
  try { res = await fetch(path, init); } catch {
    throw new ApiError(0, 'Cannot reach the server. Is "vidseek serve" running?');
  }
  if (res.status === 204) return null;
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) {
    if (res.status === 401 && !quiet401) sessionExpired();
    throw new ApiError(res.status, detailOf(body, res.status));
  }
  return body;
}

function showError(message) {
  $('#error-text').textContent = message;
  $('#error').hidden = false;
}

function fail(err) {
  if (err && err.status === 401 && state.health && state.health.auth === 'key') return; // login shown
  showError((err && err.message) || String(err));
}

// ---------- auth and routing ----------

async function boot() {
  try { state.health = await api('/api/health', { quiet401: true }); } catch (err) {
    $('#loading').textContent = 'The server cannot be reached.';
    return fail(err);
  }
  try { state.me = await api('/api/me', { quiet401: true }); } catch (err) {
    if (err.status === 401 && state.health.auth === 'key') return showLogin();
    $('#loading').textContent = '';
    return showError(err.message);
  }
  $('#tenant').textContent = state.me.tenant;
  $('#who').hidden = $('#nav').hidden = false;
  $('#sign-out').hidden = state.health.auth !== 'key';
  await loadLibraries();
  route();
}

function showLogin(message = '') {
  state.me = null;
  stopJobPolling();
  if ($('#player').open) $('#player').close();
  $('#who').hidden = $('#nav').hidden = true;
  showView('login-view');
  $('#login-error').textContent = message;
  $('#login-error').hidden = !message;
  $('#login-key').focus();
}

function sessionExpired() {
  if (state.me && state.health && state.health.auth === 'key') showLogin('Your session ended. Enter the key again.');
}

async function login(ev) {
  ev.preventDefault();
  const key = $('#login-key').value.trim();
  if (!key) return;
  $('#login-button').disabled = true;
  try {
    await api('/api/session', { method: 'POST', json: { key }, quiet401: true });
  } catch (err) {
    $('#login-error').textContent = err.status === 401 ? 'Wrong key' : err.message;
    $('#login-error').hidden = false;
    $('#login-key').select();
    return;
  } finally { $('#login-button').disabled = false; }
  $('#login-key').value = '';
  $('#login-error').hidden = true;
  boot();
}

async function signOut() {
  try { await api('/api/session', { method: 'DELETE', quiet401: true }); } catch (err) { return fail(err); }
  Object.assign(state, { libraries: [], search: null, lastKey: null, lib: null });
  state.people = { list: [], selected: new Set(), person: null, moments: [] };
  state.videoNames.clear();
  $('#results').replaceChildren();
  showLogin();
}

function showView(id) {
  for (const v of VIEWS) $(`#${v}`).hidden = v !== id;
  $('#nav-search').toggleAttribute('aria-current', id === 'search-view');
  $('#nav-libraries').toggleAttribute('aria-current', id === 'libraries-view');
  $('#nav-people').toggleAttribute('aria-current', id === 'people-view');
}

function route() {
  if (!state.me) return;
  state.viewSeq += 1;
  state.lib = null;
  stopJobPolling();
  const [path, qs = ''] = (location.hash.slice(1) || '/search').split('?');
  const params = new URLSearchParams(qs);
  if (path.startsWith('/libraries')) showLibraries(params);
  else if (path.startsWith('/people')) showPeople(params);
  else showSearch(params);
}

// ---------- search ----------

async function loadLibraries() {
  try { state.libraries = await api('/api/libraries'); } catch (err) { fail(err); return; }
  const select = $('#library-select');
  const keep = select.value;
  select.replaceChildren(el('option', { value: '' }, 'All libraries'),
    ...state.libraries.map((l) => el('option', { value: l.id }, l.name)));
  select.value = state.libraries.some((l) => String(l.id) === keep) ? keep : '';
}

function readForm() {
  return {
    q: $('#q').value.trim(),
    lib: $('#library-select').value,
    routes: $$('input[name=route]:checked').map((i) => i.value),
    min: $('#min-duration').value,
    max: $('#max-duration').value,
    after: $('#added-after').value,
    score: $('#min-score').value,
  };
}

function formToHash(f) {
  const p = new URLSearchParams();
  if (f.q) p.set('q', f.q);
  if (f.lib) p.set('lib', f.lib);
  if (f.routes.length && f.routes.length < ROUTES.length) p.set('routes', f.routes.join(','));
  for (const k of ['min', 'max', 'after', 'score']) if (f[k] !== '') p.set(k, f[k]);
  const qs = p.toString();
  return `#/search${qs ? `?${qs}` : ''}`;
}

function hashToForm(p) {
  $('#q').value = p.get('q') || '';
  const lib = p.get('lib') || '';
  $('#library-select').value = state.libraries.some((l) => String(l.id) === lib) ? lib : '';
  const routes = (p.get('routes') || '').split(',').filter((r) => ROUTES.includes(r));
  for (const box of $$('input[name=route]')) box.checked = !routes.length || routes.includes(box.value);
  $('#min-duration').value = p.get('min') || '';
  $('#max-duration').value = p.get('max') || '';
  $('#added-after').value = p.get('after') || '';
  $('#min-score').value = p.get('score') || '';
  if (routes.length || ['min', 'max', 'after', 'score'].some((k) => p.get(k))) $('#filters').open = true;
}

function buildQuery(f, offset) {
  const q = { limit: PAGE, offset };
  if (f.q) q.q = f.q;
  if (f.lib) q.library_id = Number(f.lib);
  if (f.routes.length < ROUTES.length) q.routes = f.routes;
  if (f.min !== '') q.min_duration = Number(f.min);
  if (f.max !== '') q.max_duration = Number(f.max);
  if (f.after) q.added_after = Math.floor(new Date(`${f.after}T00:00:00`).getTime() / 1000);
  if (f.score !== '') q.min_score = Number(f.score);
  return q;
}

// `image` is {file, mode}: mode "image" (looks like this), "face" (this person) or "clip" (copies of it)
function searchRequest(query, image) {
  if (!image) return api('/api/search', { method: 'POST', json: query });
  const form = new FormData();
  const fields = { ...query };
  if (image.mode === 'clip') delete fields.q; // a clip is searched on its own
  if (image.mode === 'face' && fields.routes && !fields.routes.includes('face')) fields.routes = [...fields.routes, 'face'];
  for (const [k, v] of Object.entries(fields)) form.append(k, Array.isArray(v) ? v.join(',') : String(v));
  form.append(image.mode, image.file, image.file.name || image.mode);
  return api('/api/search', { method: 'POST', form });
}

const currentImage = () => (state.image ? { file: state.image, mode: state.imageMode } : null);

function showSearch(params) {
  showView('search-view');
  state.lastSearchHash = location.hash || '#/search';
  $('#nav-search').setAttribute('href', state.lastSearchHash);
  hashToForm(params);
  if (state.focusSearch) { state.focusSearch = false; $('#q').focus(); }
  if (`${location.hash}|${state.imageToken}` !== state.lastKey) runSearch();
}

function submitSearch() {
  const hash = formToHash(readForm());
  if (location.hash !== hash) location.hash = hash; // hashchange runs the search
  else runSearch();
}

function showHint() {
  $('#empty').replaceChildren(el('p', { class: 'muted' },
    'Describe what you remember — something seen, a spoken phrase, text on screen — or drop an image. ',
    'Press / to jump to the search box.'));
}

async function runSearch(append = false) {
  if (!append) state.lastKey = `${location.hash}|${state.imageToken}`;
  const prev = state.search;
  const f = append ? prev.form : readForm();
  const image = append ? prev.image : currentImage();
  const seq = ++state.searchSeq;
  if (!f.q && !image) {
    state.askSeq++;
    $('#answer').hidden = true;
    state.search = null;
    $('#results').replaceChildren();
    $('#results-status').textContent = '';
    $('#skipped').hidden = true;
    $('#load-more').hidden = true;
    return showHint();
  }
  if (!f.routes.length && !(image && image.mode === 'clip')) return showError('Pick at least one route to search.');
  if (!append) { // a question (or the Ask button) also gets an answer card above the moments
    const clip = image && image.mode === 'clip';
    if (f.q && !clip && (state.forceAsk || (!image && QUESTION.test(f.q)))) runAsk();
    else { state.askSeq++; $('#answer').hidden = true; }
    state.forceAsk = false;
  }
  const offset = append ? prev.offset + PAGE : 0;
  $('#results-status').textContent = 'Searching…';
  $('#results').classList.add('busy');
  let res;
  try { res = await searchRequest(buildQuery(f, offset), image); } catch (err) {
    if (seq !== state.searchSeq) return;
    $('#results').classList.remove('busy');
    $('#results-status').textContent = '';
    if (!append) { // the cards on the page were for another query: never leave them under this one's error
      state.search = null;
      $('#results').replaceChildren();
      $('#skipped').hidden = true;
      $('#load-more').hidden = true;
      $('#empty').replaceChildren();
    }
    return fail(err);
  }
  if (seq !== state.searchSeq) return;
  $('#results').classList.remove('busy');
  if (!append) state.search = { form: f, image, moments: [] };
  state.search.offset = offset;
  state.search.moments.push(...res.moments);
  renderResults(res, append, seq);
}

function renderResults(res, append, seq) {
  const { moments, total } = res;
  const secs = typeof res.seconds === 'number' ? ` · ${res.seconds.toFixed(2)} s` : '';
  $('#results-status').textContent = total ? `${plural(total, 'moment')}${secs}` : '';
  const skipped = Object.entries(res.skipped_routes || {}).map(([r, why]) => `${r} route ${why}`);
  skipped.push(...(res.notes || []));
  if (res.clip && state.search.form.q) skipped.push('A clip is searched on its own: the words in the search box were not used.');
  if (!append) showFaceBox(res.face ? res.face_box : null);
  $('#skipped').replaceChildren(...skipped.map((line) => el('p', {}, line)));
  $('#skipped').hidden = !skipped.length;
  const grid = $('#results');
  const start = state.search.moments.length - moments.length;
  if (!append) grid.replaceChildren();
  // one file indexed in two libraries is two hits: each card then says which library it is from
  const library = new Set(state.search.moments.map((m) => m.library_id)).size > 1;
  const cards = moments.map((m, i) => momentCard(m, start + i, { library }));
  grid.append(...cards);
  const more = $('#load-more');
  const hadFocus = document.activeElement === more;
  more.hidden = !(total > (res.offset ?? state.search.offset) + (res.limit ?? PAGE));
  if (hadFocus && cards.length) cards[0].focus();
  $('#empty').replaceChildren();
  if (!state.search.moments.length) renderNoMatch(state.search.form, seq);
}

async function renderNoMatch(f, seq) {
  await loadLibraries();
  if (seq !== state.searchSeq) return;
  const libs = f.lib ? state.libraries.filter((l) => String(l.id) === f.lib) : state.libraries;
  const box = $('#empty');
  if (libs.every((l) => !l.videos)) {
    const where = !libs.length ? 'There are no libraries yet.'
      : f.lib ? 'This library has no videos yet.' : 'Your libraries have no videos yet.';
    box.replaceChildren(el('p', { class: 'empty-title' }, where), el('p', {},
      el('a', { href: f.lib ? `#/libraries?id=${f.lib}` : '#/libraries' }, 'Add videos in Libraries'),
      ' to start searching.'));
  } else {
    box.replaceChildren(el('p', { class: 'empty-title' }, 'No match above the cutoff'),
      el('p', { class: 'muted' }, 'Try a lower min score in Filters, or other words.'));
  }
}

const FACE_THUMB = /^\/api\/faces\/\d+\/thumbnail$/;
const faceEvidence = (m) => (m.evidence || []).find((e) => e.route === 'face' && e.face_id != null) || null;
const personLabel = (name) => name || 'no name';

function momentCard(m, index, { person = true, library = false } = {}) {
  const range = `${fmtTime(m.start)}–${fmtTime(m.end)}`;
  const face = faceEvidence(m);
  // a face moment shows the frame with the face boxed (the shot's thumbnail may be another frame)
  const urls = face && !FACE_THUMB.test(m.thumbnail_url || '')
    ? [`/api/faces/${face.face_id}/thumbnail`, m.thumbnail_url] : [m.thumbnail_url];
  const who = face ? personLabel(face.text) : null;
  const score = m.score != null ? el('span', { class: 'score', title: 'score' }, fmtScore(m.score)) : null;
  const label = [`Play ${m.name} from ${range}`, m.score != null ? `score ${fmtScore(m.score)}` : null,
    face ? `person: ${who}` : null, library && m.library ? `library ${m.library}` : null].filter(Boolean).join(', ');
  return el('article', {
    class: `moment-card${face ? ' face-moment' : ''}`, tabindex: 0, role: 'button', 'aria-label': label,
    dataset: { videoId: m.video_id, start: m.start, end: m.end, index, faceId: face ? face.face_id : null },
  },
  thumbnail(urls, range),
  el('div', { class: 'card-body' },
    el('div', { class: 'card-head' },
      el('span', { class: 'card-name', title: m.name }, m.name), score),
    face && person ? el('div', { class: `card-person${face.text ? '' : ' muted'}`, title: 'the person on screen' }, who) : null,
    library && m.library ? el('div', { class: 'card-library muted', title: 'library' }, m.library) : null,
    el('div', { class: 'badges' }, (m.routes || []).map(badge)),
    evidenceList(m.evidence, 3)));
}

// `urls`: tried in order (a face picture, then the shot's thumbnail); a ▶ when none loads
function thumbnail(urls, range) {
  const list = (Array.isArray(urls) ? urls : [urls]).filter(Boolean);
  const fallback = () => el('div', { class: 'thumb-fallback', 'aria-hidden': 'true' }, '▶');
  const box = el('div', { class: 'thumb' }, el('span', { class: 'thumb-time' }, range));
  if (!list.length) box.prepend(fallback());
  else {
    const img = el('img', { loading: 'lazy', decoding: 'async', alt: '', src: list[0] });
    let next = 1;
    img.addEventListener('error', () => {
      if (next < list.length) img.src = list[next++];
      else img.replaceWith(fallback());
    });
    box.prepend(img);
  }
  return box;
}

const MATCH_HELP = {
  lexical: 'matched by the words of the query',
  semantic: 'matched by meaning (a paraphrase, or the other language)',
  both: 'matched by the words and by meaning',
};

function evidenceList(list = [], max = Infinity, onSeek = null) {
  const ul = el('ul', { class: 'evidence' });
  for (const ev of list.slice(0, max)) {
    const text = ev.route === 'visual' ? 'visual match'
      : ev.route === 'face' ? (ev.text ? `face of ${ev.text}` : 'face match (no name yet)') : (ev.text || '');
    const time = onSeek && ev.start != null
      ? el('button', { type: 'button', class: 'ghost ev-time', onclick: () => onSeek(ev.start) }, fmtTime(ev.start))
      : null;
    const how = ev.match ? el('span', { class: `ev-match ev-${ev.match}`, title: MATCH_HELP[ev.match] || '' },
      ev.match === 'both' ? 'words + meaning' : ev.match === 'semantic' ? 'meaning' : 'words') : null;
    ul.append(el('li', {}, badge(ev.route), how, time,
      el('span', { class: 'ev-text', title: text }, onSeek ? text : truncate(text, 140))));
  }
  if (list.length > max) ul.append(el('li', { class: 'muted small' }, `+${list.length - max} more`));
  return ul;
}

// ---------- search by image, by face, by clip ----------

const isVideoFile = (f) => f.type.startsWith('video/') || (!f.type && VIDEO_EXT.test(f.name || ''));

// A photo searches by what it shows or by the person in it (the toggle); a video clip finds its copies.
function setImage(file) {
  if (!file) return;
  const clip = isVideoFile(file);
  if (!clip && !file.type.startsWith('image/')) return showError('That file is neither an image nor a video clip.');
  if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  Object.assign(state, {
    image: file, imageUrl: clip ? null : URL.createObjectURL(file), imageToken: state.imageToken + 1,
    imageMode: clip ? 'clip' : state.photoMode,
  });
  const preview = $('#image-preview');
  if (clip) preview.removeAttribute('src'); else preview.src = state.imageUrl;
  preview.hidden = clip;
  $('#clip-name').textContent = clip ? `clip: ${file.name || 'unnamed'}` : '';
  $('#clip-name').hidden = !clip;
  $('#image-chip').hidden = false;
  $('#image-drop').hidden = true;
  showMode();
  submitSearch();
}

function setMode(mode) {
  if (!state.image || state.imageMode === 'clip' || state.imageMode === mode) return;
  Object.assign(state, { imageMode: mode, photoMode: mode, imageToken: state.imageToken + 1 });
  showMode();
  submitSearch();
}

function showMode() {
  const mode = state.imageMode;
  $('#image-mode').hidden = mode === 'clip';
  for (const b of $$('#image-mode button')) b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
  $('#image-what').textContent = mode === 'clip' ? 'finding copies of this clip'
    : mode === 'face' ? 'finding this person' : 'finding what looks like this';
  $('#image-preview').alt = mode === 'face' ? 'Query photo of a person' : 'Query image';
  showFaceBox(null);
}

// The face the server searched for, boxed on the preview (`box` in the photo's pixels).
function showFaceBox(box) {
  const mark = $('#face-box');
  const img = $('#image-preview');
  if (!box || state.imageMode !== 'face') { mark.hidden = true; return; }
  const place = () => {
    const w = img.naturalWidth, h = img.naturalHeight;
    if (!w || !h) return;
    const [x0, y0, x1, y1] = box.map(Number);
    Object.assign(mark.style, { left: `${(x0 / w) * 100}%`, top: `${(y0 / h) * 100}%`,
      width: `${((x1 - x0) / w) * 100}%`, height: `${((y1 - y0) / h) * 100}%` });
    mark.hidden = false;
  };
  if (img.complete && img.naturalWidth) place(); else img.addEventListener('load', place, { once: true });
}

function clearImage() {
  if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  Object.assign(state, { image: null, imageUrl: null, imageToken: state.imageToken + 1, imageMode: state.photoMode });
  $('#image-input').value = '';
  $('#image-chip').hidden = true;
  $('#image-drop').hidden = false;
  $('#face-box').hidden = true;
  $('#image-input').focus();
  submitSearch();
}

function dropZone(zone, onFiles) {
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    e.stopPropagation(); // a zone inside another (the image zone in the search form) answers once
    zone.classList.remove('over');
    const files = [...(e.dataTransfer ? e.dataTransfer.files : [])];
    if (files.length) onFiles(files); else showError('Drop a file from your computer.');
  });
}

// Files dropped anywhere on `zone` (text dragged into its inputs keeps the browser's default).
function fileDrop(zone, onFiles) {
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  zone.addEventListener('dragover', (e) => { if (hasFiles(e)) { e.preventDefault(); zone.classList.add('over'); } });
  zone.addEventListener('dragleave', (e) => { if (!zone.contains(e.relatedTarget)) zone.classList.remove('over'); });
  zone.addEventListener('drop', (e) => {
    zone.classList.remove('over');
    const files = [...(e.dataTransfer ? e.dataTransfer.files : [])];
    if (!files.length) return;
    e.preventDefault();
    onFiles(files);
  });
}

// ---------- player ----------

function openPlayer(index, card) {
  playMoment(state.search.moments, state.search.moments[index], card);
}

// Opens the player on moment `m`; next/previous move through `list`'s moments of the same video.
function playMoment(list, m, card) {
  const p = state.player;
  p.moments = list.filter((x) => x.video_id === m.video_id)
    .sort((a, b) => a.start - b.start || a.end - b.end);
  p.index = p.moments.indexOf(m);
  p.card = card;
  const tok = ++p.token;
  const video = $('#player-video');
  $('#player-message').hidden = true;
  const ready = () => { if (tok === p.token) { renderTimeline(); seekMoment(p.index, true); } };
  if (video.getAttribute('src') === m.media_url && video.readyState >= 1) ready();
  else {
    video.addEventListener('loadedmetadata', ready, { once: true });
    video.src = m.media_url;
    renderTimeline();
  }
  if (p.videoId !== m.video_id) { p.videoId = m.video_id; loadCopies(m, tok); }
  const dialog = $('#player');
  if (!dialog.open) dialog.showModal();
  video.focus({ preventScroll: true });
}

// A whole video (or one range of it) as a moment the player can open.
function videoMoment(videoId, name, start, end, evidence = []) {
  return { video_id: videoId, name, start, end, score: null, routes: [], evidence,
    media_url: `/api/videos/${videoId}/media`, thumbnail_url: null };
}

async function videoName(id) {
  if (state.videoNames.has(id)) return state.videoNames.get(id);
  let name = `video ${id}`;
  try { name = (await api(`/api/videos/${id}`)).name || name; } catch { /* the id is shown instead */ }
  state.videoNames.set(id, name);
  return name;
}

// ---------- copies (the player's "Copies" section) ----------

async function loadCopies(m, tok) {
  const box = $('#copies');
  const list = $('#copies-list');
  box.hidden = true;
  list.replaceChildren();
  $('#copies-count').textContent = '';
  let video;
  try { video = await api(`/api/videos/${m.video_id}`); } catch { return; }
  if (tok !== state.player.token) return;
  state.videoNames.set(video.id, video.name);
  const dna = (video.routes || {}).dna;
  if (!dna || dna.state !== 'done') return; // no fingerprint: nothing to compare (and no request that fails)
  box.hidden = false;
  list.append(el('li', { class: 'muted small' }, 'Looking for copies…'));
  let res;
  try { res = await api(`/api/videos/${m.video_id}/copies`); } catch (err) {
    if (tok === state.player.token) list.replaceChildren(el('li', { class: 'error-text small' }, err.message));
    return;
  }
  if (tok !== state.player.token) return;
  const copies = res.copies || [];
  $('#copies-count').textContent = copies.length ? `(${copies.length})` : '';
  list.replaceChildren(...copies.map((c) => copyRow(video, c)));
  if (!copies.length) list.append(el('li', { class: 'muted small' }, 'No other video shares this picture.'));
}

function copyRow(video, c) {
  const here = `${fmtTime(c.query_start)}–${fmtTime(c.query_end)}`;
  const there = `${fmtTime(c.start)}–${fmtTime(c.end)}`;
  const seekHere = () => {
    const v = $('#player-video');
    if (v.readyState >= 1) v.currentTime = c.query_start;
    const pr = v.play(); if (pr) pr.catch(() => {});
  };
  const openThere = () => {
    const text = `${there} here = ${here} in ${video.name}${c.mirrored ? ', mirrored' : ''}`;
    const m = videoMoment(c.video_id, c.name, c.start, c.end, [{ route: 'dna', score: c.score, start: c.start, end: c.end, text }]);
    playMoment([m], m, state.player.card);
  };
  return el('li', { class: 'copy-row', dataset: { videoId: c.video_id, start: c.start, end: c.end } },
    el('button', { type: 'button', class: 'small copy-here', onclick: seekHere,
      'aria-label': `Play this video at ${here}, the part shared with ${c.name}` }, `▶ here ${here}`),
    el('span', { class: 'muted', 'aria-hidden': 'true' }, '='),
    el('button', { type: 'button', class: 'small copy-there', onclick: openThere,
      'aria-label': `Open ${c.name} at ${there}` }, `${c.name} ${there}`),
    c.mirrored ? el('span', { class: 'badge', title: 'the copy is flipped left to right' }, 'mirrored') : null,
    el('span', { class: 'score', title: 'how alike the two ranges are' }, fmtScore(c.score)));
}

function seekMoment(i, play = false) {
  const p = state.player;
  p.index = Math.max(0, Math.min(i, p.moments.length - 1));
  const video = $('#player-video');
  if (video.readyState >= 1) video.currentTime = p.moments[p.index].start;
  if (play) { const pr = video.play(); if (pr) pr.catch(() => {}); }
  showActive();
}

function showActive() {
  const p = state.player;
  const m = p.moments[p.index];
  if (!m) return;
  $('#player-title').textContent = `${m.name} · ${fmtTime(m.start)}–${fmtTime(m.end)}`;
  $('#moment-pos').textContent = p.moments.length > 1 ? `moment ${p.index + 1} of ${p.moments.length}` : '';
  $('#prev-moment').disabled = p.index <= 0;
  $('#next-moment').disabled = p.index >= p.moments.length - 1;
  $('#clip-link').href = `/api/videos/${m.video_id}/clip?start=${m.start}&end=${m.end}`;
  $$('.timeline-mark').forEach((mark, i) => {
    mark.classList.toggle('active', i === p.index);
    mark.toggleAttribute('aria-current', i === p.index);
  });
  const seek = (t) => { $('#player-video').currentTime = t; };
  $('#player-evidence').replaceChildren(...evidenceList(m.evidence, Infinity, seek).children);
}

function videoDuration() {
  const d = $('#player-video').duration;
  return Number.isFinite(d) && d > 0 ? d : Math.max(1, ...state.player.moments.map((m) => m.end));
}

function renderTimeline() {
  const dur = videoDuration();
  const timeline = $('#timeline');
  $$('.timeline-mark', timeline).forEach((n) => n.remove());
  state.player.moments.forEach((m, i) => {
    const mark = el('button', {
      type: 'button', class: 'timeline-mark', dataset: { index: i },
      'aria-label': `Moment ${i + 1}: ${fmtTime(m.start)}–${fmtTime(m.end)}`,
    });
    mark.style.left = `${Math.min(100, (m.start / dur) * 100)}%`;
    mark.style.width = `${Math.max(0.8, ((m.end - m.start) / dur) * 100)}%`;
    timeline.append(mark);
  });
  updatePlayhead();
  showActive();
}

function updatePlayhead() {
  const t = $('#player-video').currentTime || 0;
  $('#playhead').style.left = `${Math.min(100, (t / videoDuration()) * 100)}%`;
}

function onTimelineClick(e) {
  const mark = e.target.closest('.timeline-mark');
  if (mark) return seekMoment(Number(mark.dataset.index));
  const rect = $('#timeline').getBoundingClientRect();
  const video = $('#player-video');
  if (rect.width && video.readyState >= 1) {
    video.currentTime = ((e.clientX - rect.left) / rect.width) * videoDuration();
  }
}

function onPlayerClosed() {
  $('#player-video').pause();
  state.player.videoId = null; // the next opening fetches the copies again (indexing may have found more)
  const { card } = state.player;
  if (card && card.isConnected) card.focus();
}

// ---------- libraries ----------

function libSummary(lib) {
  const s = lib.settings || {};
  return [plural(lib.videos || 0, 'video'), `${(lib.hours || 0).toFixed(1)} h`,
    s.frame_rate != null ? `${s.frame_rate} fps` : null, (s.routes || []).join(', ')]
    .filter(Boolean).join(' · ');
}

async function showLibraries(params) {
  const seq = state.viewSeq;
  showView('libraries-view');
  const id = Number(params.get('id')) || null;
  const body = $('#library-body');
  const other = body.dataset.libraryId !== String(id);
  if (other) body.hidden = true; // never show the previous library's lists under the new name
  await loadLibraries();
  if (seq !== state.viewSeq) return;
  const lib = state.libraries.find((l) => l.id === id) || null;
  state.lib = lib;
  renderLibraryList();
  $('#library-hint').hidden = !!lib;
  body.hidden = !lib;
  if (!lib) return id ? showError('That library does not exist.') : undefined;
  body.dataset.libraryId = lib.id;
  $('#library-title').textContent = lib.name;
  $('#library-summary').textContent = libSummary(lib);
  if (other) {
    $('#library-notice').textContent = $('#video-count').textContent = '';
    for (const sel of ['#upload-list', '#jobs', '#video-list', '#dup-groups']) $(sel).replaceChildren();
  }
  loadVideos();
  loadRoots();
  startJobPolling(true);
}

function renderLibraryList() {
  const ul = $('#library-list');
  const active = state.lib && state.lib.id;
  ul.replaceChildren(...state.libraries.map((lib) => el('li', {
    class: `library-item${lib.id === active ? ' active' : ''}`, dataset: { libraryId: lib.id },
  },
  el('a', { href: `#/libraries?id=${lib.id}`, 'aria-current': lib.id === active ? 'page' : null }, lib.name),
  el('span', { class: 'muted small' }, libSummary(lib)),
  el('button', { type: 'button', class: 'ghost danger small', 'aria-label': `Delete library ${lib.name}`,
    onclick: () => deleteLibrary(lib) }, 'Delete'))));
  if (!state.libraries.length) ul.append(el('li', { class: 'muted' }, 'No libraries yet. Create one below.'));
}

async function createLibrary(e) {
  e.preventDefault();
  const name = $('#new-library-name').value.trim();
  if (!name) return $('#new-library-name').focus();
  const routes = $$('input[name=new-route]:checked').map((i) => i.value);
  if (!routes.length) return showError('Pick at least one route for the new library.');
  const settings = { frame_rate: Number($('#new-library-fps').value) || 1, routes };
  try {
    const lib = await api('/api/libraries', { method: 'POST', json: { name, settings } });
    e.target.reset();
    location.hash = `#/libraries?id=${lib.id}`;
  } catch (err) { fail(err); }
}

async function deleteLibrary(lib) {
  if (!confirm(`Delete library "${lib.name}" and its ${plural(lib.videos || 0, 'video')}? This cannot be undone.`)) return;
  try { await api(`/api/libraries/${lib.id}`, { method: 'DELETE' }); } catch (err) { return fail(err); }
  state.lastKey = null;
  if (state.lib && state.lib.id === lib.id) location.hash = '#/libraries';
  else { await loadLibraries(); renderLibraryList(); }
}

async function loadVideos() {
  const lib = state.lib;
  if (!lib) return;
  let videos;
  try { videos = await api(`/api/libraries/${lib.id}/videos`); } catch (err) { return fail(err); }
  if (!state.lib || state.lib.id !== lib.id) return;
  $('#video-count').textContent = `(${videos.length})`;
  const ul = $('#video-list');
  ul.replaceChildren(...videos.map(videoRow));
  if (!videos.length) ul.append(el('li', { class: 'muted' }, 'No videos yet. Add a server folder or upload files above.'));
}

function videoRow(v) {
  const routes = Object.entries(v.routes || {}).map(([r, s]) => el('span', {
    class: `badge state-${token(s && s.state)}`,
    title: s ? [s.language, s.note, s.error].filter(Boolean).join(' · ') || null : null,
  }, `${r}: ${s && s.state}${s && s.rows != null ? ` (${s.rows})` : ''}`));
  return el('li', { class: 'video-row', dataset: { videoId: v.id, status: v.status } },
    el('div', { class: 'video-main' },
      el('span', { class: 'video-name', title: v.source }, v.name),
      el('span', { class: 'muted small' }, fmtDuration(v.duration)),
      el('span', { class: `badge state-${token(v.status)}` }, v.status)),
    el('div', { class: 'badges' }, routes),
    v.error ? el('p', { class: 'error-text small' }, v.error) : null,
    v.status === 'done' ? el('button', { type: 'button', class: 'ghost small video-play', 'aria-label': `Play ${v.name}`,
      onclick: (e) => playVideo(v, e.currentTarget) }, 'Play') : null,
    el('button', { type: 'button', class: 'ghost danger small', 'aria-label': `Delete video ${v.name}`,
      onclick: () => deleteVideo(v) }, 'Delete'));
}

// The player on a whole video (its Copies section lists where else its picture appears).
function playVideo(v, from) {
  state.videoNames.set(v.id, v.name);
  const m = videoMoment(v.id, v.name, 0, v.duration || 0);
  playMoment([m], m, from);
}

async function deleteVideo(v) {
  if (!confirm(`Delete "${v.name}" from this library? Its index rows and thumbnails are removed.`)) return;
  try { await api(`/api/videos/${v.id}`, { method: 'DELETE' }); } catch (err) { return fail(err); }
  state.lastKey = null;
  loadVideos();
  refreshLibraryCounts();
}

async function refreshLibraryCounts() {
  await loadLibraries();
  const lib = state.lib && state.libraries.find((l) => l.id === state.lib.id);
  if (!lib) return;
  state.lib = lib;
  $('#library-summary').textContent = libSummary(lib);
  renderLibraryList();
}

// ---------- server folders ----------

async function loadRoots() {
  const box = $('#folder-browser');
  try { state.roots = await api('/api/roots'); } catch (err) {
    box.replaceChildren(el('p', { class: 'muted small' }, err.message));
    return;
  }
  if (!state.roots.length) {
    box.replaceChildren(el('p', { class: 'muted small' },
      'No server folders are shared with you. An admin can set VIDSEEK_MEDIA_ROOTS.'));
    return;
  }
  browse(state.roots[0].name, '');
}

async function browse(root, path) {
  let data;
  try {
    data = await api(`/api/roots/${encodeURIComponent(root)}/entries?path=${encodeURIComponent(path)}`);
  } catch (err) { return fail(err); }
  const here = data.path && data.path !== '.' ? data.path.replace(/^\/+|\/+$/g, '') : '';
  renderFolder(data.root || root, here, data);
}

function renderFolder(root, path, data) {
  const rootPicker = state.roots.length > 1
    ? el('select', { id: 'root-select', 'aria-label': 'Server folder', onchange: (e) => browse(e.target.value, '') },
      state.roots.map((r) => el('option', { value: r.name, selected: r.name === root }, r.name)))
    : el('strong', {}, root);
  const head = el('div', { class: 'folder-head' }, rootPicker,
    el('span', { id: 'folder-path', class: 'folder-path' }, `/${path}`),
    el('button', { id: 'index-folder', type: 'button', class: 'primary small', onclick: () => addFromServer(root, path) },
      'Index this folder'));
  const ul = el('ul', { id: 'folder-entries', class: 'plain entries' });
  if (path) {
    ul.append(el('li', {}, el('button', { type: 'button', class: 'ghost entry-up', onclick: () => browse(root, parentPath(path)) }, '..')));
  }
  for (const d of data.dirs || []) {
    ul.append(el('li', {}, el('button', { type: 'button', class: 'ghost entry-dir',
      onclick: () => browse(root, joinPath(path, d)) }, `${d}/`)));
  }
  for (const f of data.files || []) {
    ul.append(el('li', { class: 'entry-file' }, el('span', { class: 'entry-name', title: f.name }, f.name),
      el('span', { class: 'muted small' }, fmtBytes(f.size)),
      el('button', { type: 'button', class: 'small index-file', 'aria-label': `Index ${f.name}`,
        onclick: () => addFromServer(root, joinPath(path, f.name)) }, 'Index')));
  }
  if (!ul.children.length) ul.append(el('li', { class: 'muted small' }, 'This folder is empty.'));
  $('#folder-browser').replaceChildren(head, ul);
}

async function addFromServer(root, path) {
  const lib = state.lib;
  if (!lib) return;
  let res;
  try { res = await api(`/api/libraries/${lib.id}/videos`, { method: 'POST', json: { root, path } }); } catch (err) {
    return fail(err);
  }
  const n = (res && res.jobs ? res.jobs.length : 0);
  $('#library-notice').textContent = n ? `${plural(n, 'file')} queued for indexing.` : 'No new video files to index there.';
  state.lastKey = null;
  startJobPolling();
}

// ---------- uploads ----------

async function uploadFiles(files) {
  const lib = state.lib;
  if (!lib || !files.length) return;
  const rows = files.map((file) => {
    const row = { file, bar: el('progress', { max: 100, value: 0 }), status: el('span', { class: 'small muted' }, 'waiting') };
    row.li = el('li', { class: 'upload-row' }, el('span', { class: 'upload-name', title: file.name }, file.name), row.bar, row.status);
    $('#upload-list').append(row.li);
    return row;
  });
  for (const row of rows) {
    if (await uploadOne(lib.id, row) && state.lib && state.lib.id === lib.id) startJobPolling();
  }
  $('#upload-input').value = '';
  state.lastKey = null;
}

function uploadOne(libId, row) {
  return new Promise((resolve) => {
    const done = (ok, text) => {
      row.li.dataset.state = ok ? 'done' : 'failed';
      row.status.className = ok ? 'small muted' : 'small error-text';
      row.status.textContent = text;
      if (!ok) row.bar.hidden = true;  // a full bar would read as success
      resolve(ok);
    };
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/libraries/${libId}/uploads`);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = (e.loaded / e.total) * 100;
      row.bar.value = pct;
      row.status.textContent = `${Math.round(pct)} %`;
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) { row.bar.value = 100; return done(true, 'uploaded, queued'); }
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status === 401) sessionExpired();
      done(false, detailOf(body, xhr.status));
    };
    xhr.onerror = () => done(false, 'Network error while uploading.');
    const form = new FormData();
    form.append('files', row.file, row.file.name);
    row.status.textContent = 'uploading…';
    xhr.send(form);
  });
}

// ---------- jobs (live indexing progress) ----------

function stopJobPolling() {
  clearTimeout(state.jobs.timer);
  state.jobs.seq += 1;
}

function startJobPolling(prime = false) {
  stopJobPolling();
  if (state.lib) pollJobs(state.lib, state.jobs.seq, prime);
}

async function pollJobs(lib, seq, prime) {
  let jobs;
  try { jobs = await api(`/api/jobs?library_id=${lib.id}`); } catch (err) {
    if (seq === state.jobs.seq) fail(err);
    return;
  }
  if (seq !== state.jobs.seq) return;
  const seen = state.jobs.states;
  const changed = jobs.some((j) => seen.get(j.id) !== j.state);
  const finished = jobs.some((j) => ACTIVE.has(seen.get(j.id)) && !ACTIVE.has(j.state));
  for (const j of jobs) seen.set(j.id, j.state);
  renderJobs(jobs);
  if (changed && !prime) loadVideos();
  if (finished) { state.lastKey = null; refreshLibraryCounts(); }
  if (jobs.some((j) => ACTIVE.has(j.state))) {
    state.jobs.timer = setTimeout(() => pollJobs(lib, seq, false), 1000);
  }
}

function renderJobs(jobs) {
  const ul = $('#jobs');
  const row = ul.contains(document.activeElement) ? document.activeElement.closest('.job-row') : null;
  const focused = row ? row.dataset.jobId : null;
  const shown = jobs.filter((j) => ACTIVE.has(j.state)).concat(jobs.filter((j) => !ACTIVE.has(j.state)).slice(0, 20));
  ul.replaceChildren(...shown.map(jobRow));
  if (!shown.length) ul.append(el('li', { class: 'muted small' }, 'Nothing is being indexed.'));
  if (focused) {
    const btn = $(`.job-row[data-job-id="${CSS.escape(focused)}"] button`, ul);
    if (btn) btn.focus();
  }
}

function jobRow(j) {
  const active = ACTIVE.has(j.state);
  const pct = j.state === 'done' ? 100 : Math.max(0, Math.min(100, Number(j.percent) || 0));
  return el('li', { class: 'job-row', dataset: { jobId: j.id, state: j.state } },
    el('span', { class: 'job-name', title: j.name }, j.name),
    el('span', { class: `badge state-${token(j.state)}` }, j.state),
    el('span', { class: 'job-stage muted small' }, active && j.stage ? j.stage : ''),
    el('progress', { max: 100, value: pct, 'aria-label': `${j.name}: ${Math.round(pct)} percent` }),
    el('span', { class: 'job-pct small' }, `${Math.round(pct)} %`),
    el('span', { class: 'job-eta muted small' }, active && j.eta_seconds != null ? fmtEta(j.eta_seconds) : ''),
    active ? el('button', { type: 'button', class: 'ghost small job-cancel', onclick: () => cancelJob(j) }, 'Cancel') : null,
    j.error ? el('p', { class: 'error-text small job-error' }, j.error) : null);
}

async function cancelJob(j) {
  try { await api(`/api/jobs/${j.id}/cancel`, { method: 'POST' }); } catch (err) { return fail(err); }
  startJobPolling();
}

// ---------- duplicates (library view) ----------

async function findDuplicates() {
  const lib = state.lib;
  if (!lib) return;
  const ul = $('#dup-groups');
  const button = $('#dups-button');
  button.disabled = true;
  ul.replaceChildren(el('li', { class: 'muted small' }, 'Comparing the videos…'));
  let res;
  try { res = await api(`/api/duplicates?library_id=${lib.id}`); } catch (err) {
    ul.replaceChildren();
    return fail(err);
  } finally { button.disabled = false; }
  if (!state.lib || state.lib.id !== lib.id) return;
  const groups = res.groups || [];
  ul.replaceChildren(...groups.map(dupGroup));
  if (!groups.length) ul.append(el('li', { class: 'muted small' }, 'No two videos of this library share their picture.'));
}

function dupGroup(g, i) {
  const names = new Map(g.videos.map((v) => [v.video_id, v.name]));
  const nameOf = (id) => names.get(id) || `video ${id}`;
  const open = (id, start, end, other, oStart, oEnd, mirrored, from) => {
    const text = `${fmtTime(start)}–${fmtTime(end)} here = ${fmtTime(oStart)}–${fmtTime(oEnd)} in ${nameOf(other)}`
      + (mirrored ? ', mirrored' : '');
    const m = videoMoment(id, nameOf(id), start, end, [{ route: 'dna', start, end, text }]);
    playMoment([m], m, from);
  };
  const shared = g.shared.map((s) => el('li', { class: 'copy-row' },
    el('button', { type: 'button', class: 'small', 'aria-label': `Play ${nameOf(s.a)} at ${fmtTime(s.a_start)}`,
      onclick: (e) => open(s.a, s.a_start, s.a_end, s.b, s.b_start, s.b_end, s.mirrored, e.currentTarget) },
    `${nameOf(s.a)} ${fmtTime(s.a_start)}–${fmtTime(s.a_end)}`),
    el('span', { class: 'muted', 'aria-hidden': 'true' }, '='),
    el('button', { type: 'button', class: 'small', 'aria-label': `Play ${nameOf(s.b)} at ${fmtTime(s.b_start)}`,
      onclick: (e) => open(s.b, s.b_start, s.b_end, s.a, s.a_start, s.a_end, s.mirrored, e.currentTarget) },
    `${nameOf(s.b)} ${fmtTime(s.b_start)}–${fmtTime(s.b_end)}`),
    s.mirrored ? el('span', { class: 'badge' }, 'mirrored') : null,
    el('span', { class: 'score', title: 'how alike' }, fmtScore(s.score))));
  return el('li', { class: 'dup-group card-box' },
    el('h4', {}, `Group ${i + 1}: ${plural(g.videos.length, 'video')}`),
    el('p', { class: 'small' }, g.videos.map((v) => v.name).join(' · ')),
    el('ul', { class: 'plain' }, shared));
}

// ---------- people (faces grouped by person) ----------

const personName = (p) => personLabel(p.name);
const personCounts = (p) => `${plural(p.videos, 'video')} · ${plural(p.faces, 'moment')}`;

async function showPeople(params) {
  const seq = state.viewSeq;
  showView('people-view');
  const id = Number(params.get('id')) || null;
  $('#people-pane').hidden = !!id;
  $('#person-pane').hidden = !id;
  if (id) return showPerson(id, seq);
  $('#person-notice').textContent = '';
  return loadPeople(seq);
}

async function loadPeople(seq = state.viewSeq) {
  let people;
  try { people = await api('/api/people'); } catch (err) { return fail(err); }
  if (seq !== state.viewSeq) return;
  state.people.list = people;
  const known = new Set(people.map((p) => p.id));
  for (const id of state.people.selected) if (!known.has(id)) state.people.selected.delete(id);
  renderPeople();
}

function renderPeople() {
  const { list } = state.people;
  $('#people-count').textContent = `(${list.length})`;
  const grid = $('#people-grid');
  grid.replaceChildren(...list.map(personCard));
  if (!list.length) {
    grid.append(el('li', { class: 'muted people-empty' },
      'No faces yet. Index videos with the face route on (a library\'s routes, or VIDSEEK_ROUTES), then come back.'));
  }
  updateSelection();
}

function personCard(p) {
  const label = personName(p);
  const crop = p.cover ? p.cover.crop_url : null;
  const box = el('input', { type: 'checkbox', class: 'person-check', 'aria-label': `Select ${label} (person ${p.id}) to merge`,
    checked: state.people.selected.has(p.id) });
  box.addEventListener('change', () => {
    if (box.checked) state.people.selected.add(p.id); else state.people.selected.delete(p.id);
    box.closest('.person-card').classList.toggle('selected', box.checked);
    updateSelection();
  });
  const picture = crop
    ? el('img', { class: 'person-crop', src: crop, alt: `Face of ${p.name || `person ${p.id} (no name)`}`, width: 96, height: 96,
      loading: 'lazy', decoding: 'async' })
    : el('span', { class: 'person-crop person-fallback', role: 'img', 'aria-label': `person ${p.id}, no picture` }, '?');
  return el('li', { class: `person-card${state.people.selected.has(p.id) ? ' selected' : ''}`, dataset: { personId: p.id } },
    el('label', { class: 'person-select' }, box),
    el('a', { class: 'person-link', href: `#/people?id=${p.id}`, title: `${label}: every moment` }, picture),
    nameRow(p, (updated) => { Object.assign(p, updated); renderPeople(); focusRename(updated.id); }),
    el('span', { class: 'muted small person-counts' }, personCounts(p)));
}

function focusRename(id, root = document) {
  const b = $(`[data-person-id="${CSS.escape(String(id))}"] .person-rename, #person-name-row .person-rename`, root);
  if (b) b.focus();
}

// A person's name with a Rename button that edits it in place (Enter saves, Escape cancels).
function nameRow(p, onSaved) {
  const row = el('div', { class: 'name-row' });
  const show = () => {
    row.replaceChildren(
      el('span', { class: `person-name${p.name ? '' : ' muted'}`, title: p.name || 'no name yet' }, personName(p)),
      el('button', { type: 'button', class: 'ghost small person-rename', 'aria-label': `Rename ${p.name || `person ${p.id}`}`,
        onclick: edit }, 'Rename'));
  };
  const edit = () => {
    const input = el('input', { type: 'text', class: 'person-name-input', maxlength: 100, value: p.name || '',
      'aria-label': `Name of person ${p.id}`, placeholder: 'name', autocomplete: 'off' });
    const form = el('form', { class: 'rename-form' }, input,
      el('button', { type: 'submit', class: 'primary small' }, 'Save'),
      el('button', { type: 'button', class: 'ghost small', onclick: () => { show(); focusRename(p.id, row.parentNode || document); } }, 'Cancel'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const name = input.value.trim();
      let updated;
      form.querySelectorAll('button, input').forEach((n) => { n.disabled = true; });
      try { updated = await api(`/api/people/${p.id}`, { method: 'PATCH', json: { name: name || null } }); } catch (err) {
        form.querySelectorAll('button, input').forEach((n) => { n.disabled = false; });
        input.focus();
        return fail(err);
      }
      onSaved(updated);
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); show(); focusRename(p.id, row.parentNode || document); }
    });
    row.replaceChildren(form);
    input.focus();
    input.select();
  };
  show();
  return row;
}

function updateSelection() {
  const n = state.people.selected.size;
  $('#people-selected').textContent = n ? `${n} selected` : '';
  const merge = $('#people-merge');
  merge.disabled = n < 2;
  merge.textContent = n >= 2 ? `Merge ${n} people` : 'Merge selected';
}

async function mergePeople() {
  // the first selected in the list (the most seen) keeps its id; a name is kept if any of them has one
  const ids = state.people.list.map((p) => p.id).filter((id) => state.people.selected.has(id));
  if (ids.length < 2) return;
  const [keep, ...others] = ids;
  $('#people-merge').disabled = true;
  let merged;
  try { merged = await api(`/api/people/${keep}/merge`, { method: 'POST', json: { people: others } }); } catch (err) {
    updateSelection();
    return fail(err);
  }
  state.people.selected.clear();
  $('#people-notice').textContent = `Merged ${ids.length} people into ${personName(merged)} (${personCounts(merged)}).`;
  await loadPeople();
}

async function showPerson(id, seq) {
  let person;
  try { person = await api(`/api/people/${id}`); } catch (err) {
    if (seq === state.viewSeq) fail(err);
    return;
  }
  if (seq !== state.viewSeq) return;
  const names = new Map(await Promise.all([...new Set((person.moments || []).map((f) => f.video_id))]
    .map(async (v) => [v, await videoName(v)])));
  if (seq !== state.viewSeq) return;
  renderPerson(person, names);
}

function renderPerson(person, names) {
  state.people.person = person;
  const crop = $('#person-crop');
  if (person.cover) { crop.src = person.cover.crop_url; crop.hidden = false; } else { crop.removeAttribute('src'); crop.hidden = true; }
  crop.alt = `Face of ${person.name || `person ${person.id} (no name)`}`;
  $('#person-name-row').replaceChildren(nameRow(person, (updated) => {
    $('#person-notice').textContent = updated.name ? `Named ${updated.name}.` : 'The name was removed.';
    renderPerson({ ...person, ...updated, moments: person.moments }, names);
    focusRename(updated.id, $('#person-name-row'));
  }));
  $('#person-summary').textContent = personCounts(person);
  $('#person-split').disabled = (person.moments || []).length < 2;
  const moments = (person.moments || []).map((f) => {
    const m = videoMoment(f.video_id, names.get(f.video_id) || `video ${f.video_id}`, f.start, f.end,
      [{ route: 'face', score: null, start: f.start, end: f.end, text: person.name, face_id: f.id, box: f.box }]);
    return { ...m, thumbnail_url: f.thumbnail_url };
  }).sort((a, b) => a.name.localeCompare(b.name) || a.video_id - b.video_id || a.start - b.start);
  state.people.moments = moments;
  $('#person-moments').replaceChildren(...moments.map((m, i) => momentCard(m, i, { person: false })));
  if (!moments.length) $('#person-moments').append(el('p', { class: 'muted' }, 'No moments left for this person.'));
}

async function splitPerson() {
  const person = state.people.person;
  if (!person) return;
  $('#person-split').disabled = true;
  let parts;
  try { parts = await api(`/api/people/${person.id}/split`, { method: 'POST' }); } catch (err) {
    $('#person-split').disabled = false;
    return fail(err);
  }
  const other = parts.find((p) => p.id !== person.id);
  $('#person-notice').replaceChildren(`Split in two: this person keeps ${plural(parts[0].faces, 'moment')}`,
    other ? ', the other is ' : '.', other ? el('a', { href: `#/people?id=${other.id}` }, `person ${other.id}`) : '',
    other ? ` (${plural(other.faces, 'moment')}).` : '');
  showPerson(person.id, state.viewSeq);
}

function onPersonMomentActivate(e) {
  const card = e.target.closest('.moment-card');
  if (!card) return;
  if (e.type === 'keydown') {
    if (e.key !== 'Enter' && e.key !== ' ') return;
    e.preventDefault();
  }
  const list = state.people.moments;
  playMoment(list, list[Number(card.dataset.index)], card);
}

// ---------- ask the library (answer card) ----------

const QUESTION = /[?？]\s*$|^(how|what|when|where|who|why|which|is|are|does|do|can)\b|^(怎么|怎样|如何|什么|为什么|哪|谁|是否)/i;

async function runAsk() {
  const f = readForm();
  const card = $('#answer');
  if (!f.q) { card.hidden = true; return; }
  const seq = ++state.askSeq;
  const text = $('#answer-text');
  card.hidden = false;
  $('#answer-mode').textContent = '';
  text.textContent = 'Reading the videos…';
  text.classList.add('pending');
  $('#answer-citations').replaceChildren();
  let raw = '';
  const body = { question: f.q, stream: true };
  if (f.lib) body.library_id = Number(f.lib);
  try {
    const res = await fetch('/api/ask', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' }, body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(detailOf(await res.json().catch(() => null), res.status));
    for await (const ev of sseEvents(res.body)) {
      if (seq !== state.askSeq) return;
      if (ev.type === 'delta') { if (!raw) text.textContent = ''; raw += ev.text; text.textContent = raw; }
      else if (ev.type === 'reset') { raw = ''; text.textContent = 'The language model stopped; quoting the videos instead…'; }
      else if (ev.type === 'error') throw new Error(ev.detail);
      else if (ev.type === 'done') renderAnswer(ev.answer);
    }
  } catch (err) {
    if (seq !== state.askSeq) return;
    text.classList.remove('pending');
    text.textContent = `No answer: ${err.message || err}`;
  }
}

// Server-Sent Events from a fetch body: yields each event's parsed `data` JSON.
async function* sseEvents(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, '\n');
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data) yield JSON.parse(data);
    }
  }
}

function renderAnswer(answer) {
  const text = $('#answer-text');
  text.classList.remove('pending');
  const cites = answer.citations || [];
  const byN = new Map(cites.map((c) => [c.n, c]));
  const open = (c, from) => playMoment(cites, c, from);
  const parts = [];
  let last = 0;
  for (const match of answer.text.matchAll(/\[(\d+)\]/g)) {
    const c = byN.get(Number(match[1]));
    if (!c) continue;
    parts.push(answer.text.slice(last, match.index));
    const button = el('button', { type: 'button', class: 'cite', 'aria-label': `source ${c.n}: ${c.name} at ${fmtTime(c.start)}` }, `${c.n}`);
    button.addEventListener('click', () => open(c, button));
    parts.push(button);
    last = match.index + match[0].length;
  }
  parts.push(answer.text.slice(last));
  text.replaceChildren(...parts);
  $('#answer-mode').textContent = answer.mode === 'llm' ? '· written by the language model from the sources'
    : '· quoted from the videos';
  $('#answer-citations').replaceChildren(...cites.map((c) => {
    const go = el('button', { type: 'button', class: 'cite-open' }, `${c.name}  ${fmtTime(c.start)}–${fmtTime(c.end)}`);
    go.addEventListener('click', () => open(c, go));
    const quote = (c.texts || []).find((t) => t.text)?.text || '';
    // one file in several libraries is one source: say where else it is, as the CLI does
    const also = (c.also_in || []).length
      ? el('span', { class: 'card-library muted' }, ` (also in library ${c.also_in.join(', ')})`) : null;
    return el('li', { class: 'citation', dataset: { videoId: c.video_id, start: c.start, end: c.end } },
      go, ' ', el('span', { class: 'ev-text' }, truncate(quote, 160)), also);
  }));
}

function onCardActivate(e) {
  const card = e.target.closest('.moment-card');
  if (!card) return;
  if (e.type === 'keydown') {
    if (e.key !== 'Enter' && e.key !== ' ') return;
    e.preventDefault();
  }
  openPlayer(Number(card.dataset.index), card);
}

function onGlobalKey(e) {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || !state.me || $('#player').open) return;
  const t = e.target;
  if (t instanceof Element && t.closest('input, textarea, select, [contenteditable]:not([contenteditable="false"])')) return;
  e.preventDefault();
  if ($('#search-view').hidden) {
    state.focusSearch = true;
    location.hash = state.lastSearchHash || '#/search';
  } else { $('#q').focus(); $('#q').select(); }
}

// ---------- wiring ----------

function wire() {
  $('#login-form').addEventListener('submit', login);
  $('#sign-out').addEventListener('click', signOut);
  $('#error-close').addEventListener('click', () => { $('#error').hidden = true; });
  $('#search-form').addEventListener('submit', (e) => { e.preventDefault(); submitSearch(); });
  $('#ask-button').addEventListener('click', () => { state.forceAsk = true; submitSearch(); });
  $('#library-select').addEventListener('change', submitSearch);
  $('#image-input').addEventListener('change', (e) => setImage(e.target.files[0]));
  $('#image-clear').addEventListener('click', clearImage);
  dropZone($('#image-drop'), (files) => setImage(files[0]));
  fileDrop($('#search-form'), (files) => setImage(files[0])); // a photo or clip dropped on the search box
  for (const b of $$('#image-mode button')) b.addEventListener('click', () => setMode(b.dataset.mode));
  document.addEventListener('paste', (e) => {
    if ($('#search-view').hidden || !e.clipboardData) return;
    const file = [...e.clipboardData.files].find((f) => f.type.startsWith('image/'));
    if (file) { e.preventDefault(); setImage(file); }
  });
  $('#results').addEventListener('click', onCardActivate);
  $('#results').addEventListener('keydown', onCardActivate);
  $('#load-more').addEventListener('click', () => runSearch(true));

  const video = $('#player-video');
  video.addEventListener('timeupdate', updatePlayhead);
  video.addEventListener('durationchange', () => { if ($('#player').open) renderTimeline(); });
  video.addEventListener('error', () => {
    if (!video.getAttribute('src')) return;
    $('#player-message').textContent = 'This video cannot be played here (missing file or a format the browser does not support).';
    $('#player-message').hidden = false;
  });
  $('#timeline').addEventListener('click', onTimelineClick);
  $('#prev-moment').addEventListener('click', () => seekMoment(state.player.index - 1));
  $('#next-moment').addEventListener('click', () => seekMoment(state.player.index + 1));
  $('#player-close').addEventListener('click', () => $('#player').close());
  $('#player').addEventListener('close', onPlayerClosed);
  $('#player').addEventListener('click', (e) => { if (e.target === e.currentTarget) e.currentTarget.close(); });

  $('#library-create').addEventListener('submit', createLibrary);
  $('#upload-input').addEventListener('change', (e) => uploadFiles([...e.target.files]));
  dropZone($('#upload-drop'), uploadFiles);
  $('#dups-button').addEventListener('click', findDuplicates);

  $('#people-merge').addEventListener('click', mergePeople);
  $('#person-split').addEventListener('click', splitPerson);
  $('#person-moments').addEventListener('click', onPersonMomentActivate);
  $('#person-moments').addEventListener('keydown', onPersonMomentActivate);

  document.addEventListener('keydown', onGlobalKey);
  window.addEventListener('hashchange', route);
}

wire();
boot();
