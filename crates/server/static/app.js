// AgentPipe Web: live updates for the server-rendered pages.
//
// Rules this file keeps (see routes/ui/mod.rs):
// - agent content only ever reaches the DOM through textContent or attributes set with
//   setAttribute/dataset; never innerHTML;
// - a new message is first shown as plain text, in order, then replaced by the server's
//   rendered and sanitized HTML of that message (Markdown), which the `?view=ui` stream
//   carries with the event (issue #14), parsed with DOMParser (inert: nothing in
//   it runs, and the Content-Security-Policy forbids inline script anyway);
// - the live stream is /api/realtime/stream (EventSource), resumed from the event-log id
//   the page was rendered at, so nothing committed in between is missed; one connection
//   per browser for all tabs, held by the SharedWorker static/live-worker.js, else one
//   per tab (see openStream).
(function () {
  'use strict';

  var PALETTE = 8;

  function $(sel, root) { return (root || document).querySelector(sel); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function num(n) { return Number(n || 0).toLocaleString('en-US'); }

  // Kept in step with render::count: "1 message", "2 messages".
  function count(n, noun) { return Number(n) === 1 ? '1 ' + noun : num(n) + ' ' + noun + 's'; }

  function usd(c) {
    c = Number(c) || 0;
    return '$' + (Math.abs(c) < 1 ? c.toFixed(4) : c.toFixed(2));
  }

  function dur(ms) {
    ms = Math.max(0, Number(ms) || 0);
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    if (ms < 3600000) return Math.floor(ms / 60000) + ' min ' + Math.floor((ms % 60000) / 1000) + ' s';
    return Math.floor(ms / 3600000) + ' h ' + Math.floor((ms % 3600000) / 60000) + ' min';
  }

  function shortTime(ts) {
    if (typeof ts !== 'string') return '';
    var d = new Date(ts);
    if (isNaN(d.getTime())) return ts;
    var iso = d.toISOString();
    return iso.slice(0, 10) + ' ' + iso.slice(11, 19) + ' UTC';
  }

  // The first n characters of text on one line. Cut between user-perceived characters
  // (grapheme clusters, so an emoji with a skin tone or a ZWJ sequence stays whole) where
  // the browser can tell, else between code points: never half a surrogate pair.
  function snippet(text, n) {
    var one = String(text || '').split(/\s+/).filter(Boolean).join(' ');
    var parts;
    if (typeof Intl !== 'undefined' && Intl.Segmenter) {
      parts = [];
      var it = new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(one)[Symbol.iterator]();
      for (var r = it.next(); !r.done && parts.length <= n; r = it.next()) parts.push(r.value.segment);
    } else {
      parts = Array.from(one);
    }
    return parts.length <= n ? one : parts.slice(0, n).join('') + '\u2026';
  }

  // Kept in step with render::agent_icon.
  var ICONS = {
    claude: '\u2733', gemini: '\u2726', codex: '\u25ce', openai: '\u25ce', gpt: '\u25ce',
    chatgpt: '\u25ce', qwen: '\u25c6', cursor: '\u25b2', amp: '\u03df', factory: '\u2699',
    droid: '\u2699', copilot: '\u2708', ollama: '\u25c9', user: '\u263a', human: '\u263a',
    system: '\u00a7', host: '\u00a7'
  };

  function icon(type) {
    var t = String(type || '').toLowerCase();
    if (ICONS[t]) return ICONS[t];
    var m = t.match(/[\p{L}\p{N}]/u);
    return m ? m[0].toUpperCase() : '\u2022';
  }

  // Kept in step with render::hash_colour.
  function hashColour(id) {
    var h = 0;
    id = String(id || '');
    for (var i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) >>> 0;
    return h % PALETTE;
  }

  function pick(obj, path) {
    var cur = obj;
    for (var i = 0; i < path.length; i++) {
      if (cur === null || typeof cur !== 'object') return undefined;
      cur = cur[path[i]];
    }
    return cur;
  }

  function str(v) { return typeof v === 'string' && v !== '' ? v : undefined; }
  function numv(v) { return typeof v === 'number' && isFinite(v) ? v : undefined; }

  // ---- connection and stream ----

  // `retryAt` (epoch ms, while paused): "<text> – retrying in N s", counted down once a second.
  var connTick = null;
  function setConn(state, text, retryAt) {
    var c = $('#conn');
    if (!c) return;
    c.dataset.state = state;
    var t = $('.conn-text', c);
    clearInterval(connTick);
    connTick = null;
    if (!t) return;
    if (typeof retryAt !== 'number') { t.textContent = text; return; }
    var show = function () {
      var s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      t.textContent = text + (s > 0 ? ' \u2013 retrying in ' + s + ' s' : ' \u2013 retrying\u2026');
      if (s <= 0) { clearInterval(connTick); connTick = null; }
    };
    show();
    connTick = setInterval(show, 1000);
  }

  // The live stream of this tab: through the SharedWorker (static/live-worker.js), which
  // holds one connection per browser for all the tabs of the origin (issue #14: over
  // HTTP/1.1 a browser opens 6 connections per host, and a seventh streaming tab never
  // loaded), else (no SharedWorker, a file:// page, the worker fails to start, or
  // `?live=tab` in the address / localStorage `agentpipe.live` = `tab`) a connection of its
  // own. Either way `onEvent` gets each event once, in id order, from `lastEventId` on;
  // the path taken is `<html data-live="shared|tab">`. Returns {close}.
  function openStream(params, onEvent) {
    var url = workerUrl();
    if (!url || perTabWanted()) return ownStream(params, onEvent);
    return sharedStream(url, params, onEvent);
  }

  // The worker's URL beside this script's, with the same `?v=` (one worker per version).
  var SCRIPT_SRC = document.currentScript ? document.currentScript.src : '';
  function workerUrl() {
    if (typeof SharedWorker === 'undefined' || location.protocol === 'file:') return null;
    if (!/\/static\/app\.js(\?|$)/.test(SCRIPT_SRC)) return null;
    return SCRIPT_SRC.replace(/\/static\/app\.js/, '/static/live-worker.js');
  }

  function perTabWanted() {
    if (/[?&]live=tab(&|$)/.test(location.search)) return true;
    try { return window.localStorage.getItem('agentpipe.live') === 'tab'; } catch (_) { return false; }
  }

  function idOf(v) {
    if (typeof v === 'number' && isFinite(v)) return v;
    if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
    return null;
  }

  // Through the SharedWorker. It answers `hello` as soon as it runs; without it within 5 s
  // (or on a worker error first) the tab falls back to its own connection, from the last
  // id it got.
  function sharedStream(url, params, onEvent) {
    var lastId = idOf(params.lastEventId);
    var port = null, dead = false, acked = false, own = null, ping = null;
    var lock = 'agentpipe-live-' + Date.now().toString(36) + Math.random().toString(36).slice(2);
    function fallback() {
      if (dead) return;
      dead = true;
      clearTimeout(ackTimer);
      if (ping) clearInterval(ping);
      if (port) { try { port.postMessage({ type: 'close' }); port.close(); } catch (_) { /* gone */ } }
      var p = {};
      Object.keys(params).forEach(function (k) { p[k] = params[k]; });
      p.lastEventId = lastId;
      own = ownStream(p, onEvent);
    }
    var ackTimer = setTimeout(function () { if (!acked) fallback(); }, 5000);
    var worker;
    try {
      worker = new SharedWorker(url, { name: 'agentpipe-live' });
      port = worker.port;
    } catch (_) {
      fallback();
      return { close: function () { if (own) own.close(); } };
    }
    document.documentElement.dataset.live = 'shared';
    worker.onerror = function () { if (!acked) fallback(); };
    port.onmessage = function (e) {
      if (dead) return;
      var m = e.data || {};
      if (m.type === 'hello') { acked = true; clearTimeout(ackTimer); }
      else if (m.type === 'state') setConn(m.state, m.text, m.retryAt);
      else if (m.type === 'error') { if (params.onError) params.onError(); }
      else if (m.type === 'event' && m.env && typeof m.env === 'object') {
        var env = m.env;
        if (typeof env.id === 'number') {
          if (lastId !== null && env.id <= lastId) return;
          lastId = env.id;
        }
        onEvent(env);
      }
    };
    port.start();
    function subscribe() {
      if (dead) return;
      port.postMessage({
        type: 'subscribe', url: params.url || '/api/realtime/stream',
        conversationId: params.conversationId || null, ui: params.view === 'ui',
        lastEventId: lastId, lock: lock
      });
    }
    // The tab holds a Web Lock for its life: the worker learns that the tab is gone when
    // it is released. Pings and pagehide cover browsers without locks.
    var locked = false;
    try {
      if (navigator.locks) {
        navigator.locks.request(lock, function () { locked = true; subscribe(); return new Promise(function () {}); });
      }
    } catch (_) { locked = false; }
    if (!navigator.locks) subscribe();
    else setTimeout(function () { if (!locked) { lock = null; subscribe(); } }, 1000);
    ping = setInterval(function () { if (!dead) port.postMessage({ type: 'ping' }); }, 20000);
    window.addEventListener('pagehide', function () { if (!dead) port.postMessage({ type: 'close' }); });
    window.addEventListener('pageshow', function (e) { if (e.persisted) subscribe(); });
    return {
      close: function () {
        if (own) { own.close(); return; }
        if (!dead) { dead = true; clearTimeout(ackTimer); clearInterval(ping); port.postMessage({ type: 'close' }); }
      }
    };
  }

  // A connection of this tab's own, kept open: EventSource reconnects by itself after a
  // network error (sending Last-Event-ID, after the server's per-connection `retry:`);
  // after a refused connection (503) or a closed stream it gives up, so we open a new one
  // from the last id seen, backing off with jitter (1-2 s, doubling to 30 s) so that tabs
  // do not all come back at once after a restart (issue #14).
  function ownStream(params, onEvent) {
    document.documentElement.dataset.live = 'tab';
    var lastId = params.lastEventId;
    var es = null;
    var retryTimer = null;
    var failures = 0;
    var closed = false;
    function connect() {
      if (closed) return;
      var q = [];
      if (params.conversationId) q.push('conversationId=' + encodeURIComponent(params.conversationId));
      if (params.view) q.push('view=' + encodeURIComponent(params.view));
      if (lastId !== undefined && lastId !== null && lastId !== '') q.push('lastEventId=' + encodeURIComponent(lastId));
      es = new EventSource((params.url || '/api/realtime/stream') + (q.length ? '?' + q.join('&') : ''));
      setConn('connecting', 'Connecting\u2026');
      es.onopen = function () { failures = 0; setConn('live', 'Live'); };
      es.onerror = function () {
        if (params.onError) params.onError();
        if (es.readyState === EventSource.CLOSED) {
          failures += 1;
          var base = Math.min(30000, 1000 * Math.pow(2, Math.min(failures - 1, 5)));
          var wait = Math.round(base * (1 + Math.random()));
          setConn('offline', 'Live updates paused', Date.now() + wait);
          if (!retryTimer) {
            retryTimer = setTimeout(function () { retryTimer = null; connect(); }, wait);
          }
        } else {
          setConn('reconnecting', 'Reconnecting\u2026');
        }
      };
      es.onmessage = function (e) {
        var env;
        try { env = JSON.parse(e.data); } catch (_) { return; }
        if (!env || typeof env !== 'object' || env.type === 'connected') return;
        if (typeof env.id === 'number') lastId = env.id;
        setConn('live', 'Live');
        onEvent(env);
      };
    }
    connect();
    return {
      close: function () {
        closed = true;
        if (retryTimer) clearTimeout(retryTimer);
        if (es) es.close();
      }
    };
  }

  // For replay.js (issue #20): its live continuation goes the same way.
  window.AgentPipeLive = { open: openStream };

  function throttle(fn, ms) {
    var timer = null;
    var again = false;
    return function () {
      if (timer) { again = true; return; }
      fn();
      timer = setTimeout(function () {
        timer = null;
        if (again) { again = false; fn(); }
      }, ms);
    };
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error(url + ': ' + r.status); return r.json(); });
  }

  function setBadge(badge, status) {
    if (!badge || !status) return;
    status = String(status).toUpperCase();
    badge.textContent = status;
    badge.className = 'badge status-' + status.toLowerCase();
  }

  // ---- dashboard ----

  // Kept in step with render::feed_item.
  function feedItem(env) {
    var d = env.data || {};
    var cls = 'other', title = String(env.type || 'event'), detail = '';
    switch (env.type) {
      case 'conversation.started':
        cls = 'start'; title = 'Conversation started';
        detail = snippet(str(d.name) || str(d.initial_prompt) || str(d.initialPrompt) || '', 120);
        break;
      case 'message.created':
        cls = 'message';
        title = (str(d.agent_name) || str(pick(d, ['message', 'agentName'])) || str(d.agent_type) ||
          str(pick(d, ['message', 'agentType'])) || 'agent') + ' wrote';
        detail = snippet(str(d.content) || str(pick(d, ['message', 'content'])) || '', 140);
        break;
      case 'conversation.completed':
        var st = str(d.status) || 'completed';
        cls = st.toLowerCase() === 'error' ? 'error' : 'done';
        title = 'Conversation ' + st.toLowerCase();
        break;
      case 'conversation.interrupted':
        cls = 'done'; title = 'Conversation interrupted'; detail = snippet(str(d.reason) || '', 120);
        break;
      case 'conversation.error':
      case 'error.occurred':
        cls = 'error'; title = 'Error';
        detail = snippet(str(d.error_message) || str(d.error) || str(d.message) || '', 140);
        break;
      case 'session.uploaded':
        cls = 'upload'; title = 'Session uploaded';
        detail = snippet(str(d.name) || '', 100) + ' (' + count(d.messagesCreated, 'message') + ')';
        break;
      case 'log.entry':
        cls = 'log'; title = 'Log'; detail = snippet(str(d.message) || '', 140);
        break;
    }
    var li = el('li', 'feed-item feed-' + cls);
    li.dataset.eventId = String(env.id);
    li.appendChild(el('span', 'feed-icon')).setAttribute('aria-hidden', 'true');
    var body = li.appendChild(el('div', 'feed-body'));
    var p = body.appendChild(el('p', 'feed-title'));
    if (env.conversationId) {
      var a = p.appendChild(el('a', null, title));
      a.setAttribute('href', '/sessions/' + encodeURIComponent(env.conversationId));
    } else {
      p.appendChild(document.createTextNode(title));
    }
    p.appendChild(document.createTextNode(' '));
    var t = p.appendChild(el('time', null, shortTime(env.timestamp)));
    t.setAttribute('datetime', String(env.timestamp || ''));
    if (detail) body.appendChild(el('p', 'feed-detail', detail));
    return li;
  }

  function dashboard() {
    var feed = $('#feed');
    if (!feed) return;
    var refresh = throttle(function () {
      getJSON('/dashboard/live').then(function (n) {
        var t = n.totals || {};
        $('#t-sessions').textContent = num(t.sessions);
        $('#t-active').textContent = num(t.active);
        $('#t-messages').textContent = num(t.messages);
        $('#t-tokens').textContent = num(t.tokens);
        $('#t-cost').textContent = usd(t.cost);
        var list = $('#active-list');
        while (list.firstChild) list.removeChild(list.firstChild);
        (n.active || []).forEach(function (s) {
          var li = list.appendChild(el('li'));
          var a = li.appendChild(el('a', null, s.title || s.name));
          a.setAttribute('href', '/sessions/' + encodeURIComponent(s.id));
          li.appendChild(document.createTextNode(' '));
          li.appendChild(el('span', 'muted', count(s.totalMessages, 'message') + ' \u00b7 started ' + shortTime(s.startedAt)));
        });
        $('#active-empty').hidden = (n.active || []).length > 0;
      }).catch(function () { /* keep the last numbers */ });
    }, 1000);
    openStream({ lastEventId: feed.dataset.lastEventId }, function (env) {
      if (feed.querySelector('[data-event-id="' + String(env.id) + '"]')) return;
      feed.insertBefore(feedItem(env), feed.firstChild);
      while (feed.children.length > 60) feed.removeChild(feed.lastChild);
      $('#feed-empty').hidden = true;
      refresh();
    });
  }

  // ---- session detail ----

  function normaliseMessage(env, agents) {
    var d = env.data || {};
    var m;
    if (d.message && typeof d.message === 'object') {
      var x = d.message, mx = x.metrics || {};
      m = {
        id: str(x.id) || str(d.messageId), agentId: str(x.agentId), agentName: str(x.agentName),
        agentType: str(x.agentType) || 'agent', role: str(x.role) || 'agent', content: typeof x.content === 'string' ? x.content : '',
        seq: numv(x.sequenceNumber), ts: str(x.timestamp) || env.timestamp,
        tokens: numv(mx.totalTokens), input: numv(mx.inputTokens), output: numv(mx.outputTokens),
        cost: numv(mx.cost), duration: numv(mx.duration), model: str(mx.model)
      };
      if (m.tokens === undefined && m.input !== undefined && m.output !== undefined) m.tokens = m.input + m.output;
    } else {
      m = {
        id: str(d.message_id), agentId: str(d.agent_id), agentName: str(d.agent_name),
        agentType: str(d.agent_type) || 'agent', role: str(d.role) || 'agent', content: typeof d.content === 'string' ? d.content : '',
        seq: numv(d.sequence_number), ts: env.timestamp,
        tokens: numv(d.tokens_used), input: numv(d.input_tokens), output: numv(d.output_tokens),
        cost: numv(d.cost), duration: numv(d.duration_ms), model: str(d.model)
      };
      if (m.tokens === undefined && m.input !== undefined && m.output !== undefined) m.tokens = m.input + m.output;
    }
    if (!m.agentId) {
      // SPEC 2.4: the first participant of that type, else the type itself.
      var ids = Object.keys(agents);
      for (var i = 0; i < ids.length; i++) {
        if (agents[ids[i]].t === m.agentType) { m.agentId = ids[i]; break; }
      }
      if (!m.agentId) m.agentId = m.agentType;
    }
    return m;
  }

  function sortKey(seq, ts, id) {
    var s = seq === undefined || seq === null || seq === '' ? Infinity : Number(seq);
    var t = Date.parse(ts);
    return [isNaN(s) ? Infinity : s, isNaN(t) ? 0 : t, String(id || '')];
  }

  function before(a, b) {
    for (var i = 0; i < 3; i++) {
      if (a[i] < b[i]) return true;
      if (a[i] > b[i]) return false;
    }
    return false;
  }

  function liKey(li) { return sortKey(li.dataset.seq, li.dataset.ts, li.dataset.id); }

  function buildMessage(m, agents) {
    var st = agents[m.agentId];
    var c = st ? st.c : hashColour(m.agentId);
    var li = el('li', 'msg a' + c + ' role-' + m.role.replace(/[^a-z0-9_-]/gi, ''));
    if (m.id) { li.id = 'm-' + m.id; li.dataset.id = m.id; }
    li.dataset.seq = m.seq === undefined ? '' : String(m.seq);
    li.dataset.ts = String(m.ts || '');
    li.dataset.agent = m.agentId;
    var art = li.appendChild(el('article'));
    var head = art.appendChild(el('header', 'msg-head'));
    head.appendChild(el('span', 'avatar', st ? st.i : icon(m.role === 'agent' ? m.agentType : m.role))).setAttribute('aria-hidden', 'true');
    head.appendChild(el('strong', 'who', (st && st.n) || m.agentName || m.agentId));
    head.appendChild(document.createTextNode(' '));
    head.appendChild(el('span', 'agent-type', m.agentType));
    head.appendChild(document.createTextNode(' '));
    var t = head.appendChild(el('time', null, shortTime(m.ts)));
    t.setAttribute('datetime', String(m.ts || ''));
    if (m.seq !== undefined) {
      head.appendChild(document.createTextNode(' '));
      head.appendChild(el('span', 'seq', '#' + m.seq));
    }
    art.appendChild(el('div', 'content md plain', m.content));
    var bits = [];
    if (m.tokens !== undefined) {
      bits.push(count(m.tokens, 'token') + (m.input !== undefined && m.output !== undefined ? ' (' + num(m.input) + ' in / ' + num(m.output) + ' out)' : ''));
    }
    if (m.cost !== undefined) bits.push(usd(m.cost));
    if (m.duration !== undefined) bits.push(dur(m.duration));
    if (bits.length || m.model) {
      var f = art.appendChild(el('footer', 'metrics'));
      bits.forEach(function (b) { f.appendChild(el('span', null, b)); });
      if (m.model) f.appendChild(el('span', 'model', m.model));
    }
    return li;
  }

  function isDuplicate(list, m) {
    if (m.id) return !!document.getElementById('m-' + m.id);
    for (var i = 0; i < list.children.length; i++) {
      var li = list.children[i];
      if (m.seq !== undefined) {
        if (li.dataset.seq === String(m.seq)) return true;
      } else if (li.dataset.agent === m.agentId && Date.parse(li.dataset.ts) === Date.parse(m.ts)) {
        return true;
      }
    }
    return false;
  }

  function insertOrdered(list, li) {
    var key = liKey(li);
    for (var n = list.lastElementChild; n; n = n.previousElementSibling) {
      if (!before(key, liKey(n))) {
        n.after(li);
        return;
      }
    }
    list.insertBefore(li, list.firstChild);
  }

  // A live error (issue #12), drawn as templates/session.html draws one and placed as
  // ui::timeline places it: before the first message with a later timestamp (after the
  // errors before it), `data-seq` the preceding message's sequence number + 0.5 (so later
  // live messages are inserted around it in order), in the colour of the participant it
  // names (by agent id, else the first of its agent type), else the hash of its type.
  function buildError(env, agents) {
    var d = env.data || {};
    var kind = str(d.agent_type) || str(d.agentType) || 'error';
    var aid = str(d.agent_id) || str(d.agentId);
    var ids = Object.keys(agents), st;
    for (var i = 0; i < ids.length && !st; i++) if (aid && ids[i] === aid) st = agents[ids[i]];
    for (var j = 0; j < ids.length && !st; j++) if (agents[ids[j]].t === kind) st = agents[ids[j]];
    var li = el('li', 'note-error a' + (st ? st.c : hashColour(kind)));
    li.dataset.ts = String(env.timestamp || '');
    li.dataset.id = '';
    var art = li.appendChild(el('article'));
    var head = art.appendChild(el('header', 'msg-head'));
    head.appendChild(el('span', 'avatar', st ? st.i : icon(kind))).setAttribute('aria-hidden', 'true');
    head.appendChild(el('strong', 'who', 'Error'));
    if (str(d.agent_type) || str(d.agentType)) {
      head.appendChild(document.createTextNode(' '));
      head.appendChild(el('span', 'agent-type', kind));
    }
    var et = str(d.error_type) || str(d.errorType);
    if (et) {
      head.appendChild(document.createTextNode(' '));
      head.appendChild(el('span', 'pill error-type', et));
    }
    head.appendChild(document.createTextNode(' '));
    var t = head.appendChild(el('time', null, shortTime(env.timestamp)));
    t.setAttribute('datetime', String(env.timestamp || ''));
    art.appendChild(el('p', 'error-text', str(d.error_message) || str(d.error) || str(d.message) || ''));
    return li;
  }

  function placeError(list, li) {
    var t = Date.parse(li.dataset.ts), text = $('.error-text', li).textContent, prev;
    for (var n = list.firstElementChild; n; n = n.nextElementSibling) {
      var nt = Date.parse(n.dataset.ts);
      if (n.classList.contains('note-error')) {
        var same = $('.error-text', n);
        if (nt === t && same && same.textContent === text) return false; // already shown
      }
      if (nt > t) break;
      if (n.classList.contains('msg') && n.dataset.seq !== '') prev = n.dataset.seq;
    }
    li.dataset.seq = prev === undefined ? '' : prev + '.5';
    if (n) list.insertBefore(li, n); else list.appendChild(li);
    return true;
  }

  // Completeness banner (issue #12); the text is kept in step with `completeness_view` in
  // routes/ui/mod.rs.
  function missingText(c) {
    var m = c.missing || [];
    if (m.length) {
      var one = m.length === 1 && m[0][0] === m[0][1];
      return (one ? 'message ' : 'messages ') + m.map(function (r) {
        return r[0] === r[1] ? String(r[0]) : r[0] + '\u2013' + r[1];
      }).join(', ') + ' missing';
    }
    if (typeof c.reported === 'number' && c.reported > c.stored) {
      return c.stored + ' of ' + c.reported + ' reported messages stored';
    }
    return '';
  }

  function setCompleteness(c) {
    var box = $('#completeness');
    if (!box || !c || !c.state) return;
    box.dataset.state = c.state;
    if (c.state === 'incomplete') {
      $('#completeness-text').textContent = missingText(c);
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }

  function session() {
    var root = $('#session');
    var list = $('#messages');
    if (!root || !list) return;
    var sid = root.dataset.sessionId;
    // A share link's page (issue #18) reads and streams under /s/{token} only.
    var apiUrl = root.dataset.apiUrl || '/api/sessions/' + encodeURIComponent(sid);
    var agents = {};
    try { agents = JSON.parse(list.dataset.agents || '{}') || {}; } catch (_) { agents = {}; }
    var badge = $('#status-badge');
    var newBelow = $('#new-below');
    var unseen = 0;

    // "The bottom" is the end of the messages (`#latest`), not of the page: on a phone
    // the participants and the chart come after the messages, and following the end of
    // the page would keep the newest message above the screen (issue #13).
    var latest = $('#latest');
    function endY() { return latest ? latest.getBoundingClientRect().bottom : 0; }
    function nearBottom() {
      var b = endY();
      return b >= 0 && b <= window.innerHeight + 120;
    }
    function toBottom() {
      var max = document.documentElement.scrollHeight - window.innerHeight;
      var target = window.scrollY + endY() - window.innerHeight;
      // Little below the messages (a wide screen): the very end of the page.
      if (max - target < 200) target = max;
      window.scrollTo(0, Math.max(0, target));
    }
    // Opened at the latest message (`#latest`, the link `demo` prints): start at the
    // end of the messages and follow from there. The browser's own jump to the anchor
    // (which puts it at the top of the screen) comes as late as the load event, so the
    // page jumps again after it.
    // A long session (issue #14) shows its newest page: open at its end too.
    var atLatest = location.hash === '#latest' || (!location.hash && !!list.dataset.prevBefore);
    var follow = atLatest || nearBottom();
    if (atLatest) {
      toBottom();
      window.addEventListener('load', function () {
        requestAnimationFrame(function () { if (follow) toBottom(); });
      });
    }
    // Only the reader's own scrolling (wheel, touch, keys, scrollbar) decides whether to
    // follow: a scroll event caused by the page growing or by our own jump must not.
    var lastY = window.scrollY;
    window.addEventListener('scroll', function () {
      var up = window.scrollY < lastY;
      lastY = window.scrollY;
      if (nearBottom() && !list.dataset.nextAfter) { follow = true; unseen = 0; newBelow.hidden = true; }
      else if (up) follow = false;
    }, { passive: true });
    newBelow.addEventListener('click', function () {
      if (!atEnd()) { unseen = 0; newBelow.hidden = true; jumpEnd(); return; }
      follow = true; unseen = 0; newBelow.hidden = true;
      toBottom();
    });
    function afterGrowth(added) {
      if (follow && atEnd()) {
        toBottom();
        trim('top');
      } else if (added) {
        unseen += 1;
        newBelow.textContent = unseen + ' new message' + (unseen === 1 ? '' : 's') + ' \u2193';
        newBelow.hidden = false;
      }
    }

    // ---- pages of a long session (issue #14) ----
    // The page holds one contiguous window of the session's messages: the newest page at
    // first; older pages load as the reader nears the top, newer ones (after a jump or a
    // find) near the bottom, each one request for a server-rendered page. The window is
    // trimmed at the far end so the DOM stays bounded. `data-prev-before` /
    // `data-next-after` on the list name where the next pages start ('' at the ends).
    var pagesUrl = root.dataset.pagesUrl || '/sessions/' + encodeURIComponent(sid) + '/messages';
    var MAX_ITEMS = 300;
    var olderBtn = $('#load-older');
    var newerBtn = $('#load-newer');
    var loading = false;
    // Bumped by every jump or find: a page that arrives for an earlier window is dropped.
    var generation = 0;
    function atEnd() { return !list.dataset.nextAfter; }
    function atStart() { return !list.dataset.prevBefore; }
    function drawEdges() {
      if (olderBtn) olderBtn.hidden = atStart();
      if (newerBtn) newerBtn.hidden = atEnd();
    }
    function fetchPage(params) {
      var q = Object.keys(params).map(function (k) {
        return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]);
      }).join('&');
      return fetch(pagesUrl + (q ? '?' + q : ''), { headers: { Accept: 'text/html' }, credentials: 'same-origin' })
        .then(function (r) { if (!r.ok) throw new Error('page: ' + r.status); return r.text(); })
        .then(function (html) {
          var ol = new DOMParser().parseFromString(html, 'text/html').querySelector('ol.messages-page');
          if (!ol) throw new Error('page: no list');
          var items = [];
          for (var n = ol.firstElementChild; n; n = n.nextElementSibling) items.push(document.importNode(n, true));
          return {
            items: items, found: !!ol.dataset.found, prevBefore: ol.dataset.prevBefore || '',
            nextAfter: ol.dataset.nextAfter || '', hit: ol.dataset.hit || '',
            hitIndex: Number(ol.dataset.hitIndex || 0), hits: Number(ol.dataset.hits || 0)
          };
        });
    }
    function fresh(items) {
      return items.filter(function (li) { return !(li.id && document.getElementById(li.id)); });
    }
    function firstMsg() { return list.querySelector(':scope > li.msg'); }
    function firstOnScreen() {
      for (var n = list.firstElementChild; n; n = n.nextElementSibling) {
        if (n.getBoundingClientRect().bottom > 0) return n;
      }
      return null;
    }
    function lastMsg() { var all = list.querySelectorAll(':scope > li.msg'); return all[all.length - 1]; }
    // Keeps the element `keep` where it is on the screen while `change` runs above it.
    function steady(keep, change) {
      var top = keep ? keep.getBoundingClientRect().top : 0;
      change();
      if (keep) {
        var moved = keep.getBoundingClientRect().top - top;
        if (moved) window.scrollBy(0, moved);
      }
      lastY = window.scrollY;
    }
    // Drops items from one end ('top' or 'bottom') while the window holds too many.
    function trim(side) {
      if (list.children.length <= MAX_ITEMS) return;
      if (side === 'bottom') {
        while (list.children.length > MAX_ITEMS) list.removeChild(list.lastElementChild);
        var last = lastMsg();
        list.dataset.nextAfter = last ? last.dataset.id : '';
        follow = false;
      } else {
        var keep = list.children[list.children.length - MAX_ITEMS];
        steady(keep, function () {
          while (list.children.length > MAX_ITEMS) list.removeChild(list.firstElementChild);
        });
        var first = firstMsg();
        list.dataset.prevBefore = first ? first.dataset.id : '';
      }
      drawEdges();
    }
    function loadOlder() {
      if (loading || atStart()) return Promise.resolve();
      loading = true;
      var g = generation;
      return fetchPage({ before: list.dataset.prevBefore }).then(function (p) {
        if (g !== generation) return;
        var keep = list.firstElementChild;
        steady(keep, function () {
          var items = fresh(p.items), at = list.firstChild;
          items.forEach(function (li) { list.insertBefore(li, at); });
        });
        list.dataset.prevBefore = p.prevBefore;
        trim('bottom');
        drawEdges();
      }).catch(function () { /* the button stays; the next scroll retries */ })
        .then(function () { loading = false; });
    }
    function loadNewer() {
      if (loading || atEnd()) return Promise.resolve();
      loading = true;
      var g = generation;
      return fetchPage({ after: list.dataset.nextAfter }).then(function (p) {
        if (g !== generation) return;
        fresh(p.items).forEach(function (li) { list.appendChild(li); });
        list.dataset.nextAfter = p.nextAfter;
        trim('top');
        drawEdges();
      }).catch(function () { /* retried on the next scroll */ })
        .then(function () { loading = false; });
    }
    // Replaces the window with a page (a jump or a find).
    function replaceWith(p) {
      generation += 1;
      while (list.firstChild) list.removeChild(list.firstChild);
      p.items.forEach(function (li) { list.appendChild(li); });
      list.dataset.prevBefore = p.prevBefore;
      list.dataset.nextAfter = p.nextAfter;
      $('#messages-empty').hidden = !!list.firstElementChild;
      drawEdges();
    }
    function jumpStart() {
      loading = true;
      return fetchPage({ edge: 'start' }).then(function (p) {
        follow = false;
        replaceWith(p);
        var h = $('#messages-h');
        if (h) h.scrollIntoView({ block: 'start' });
        lastY = window.scrollY;
      }).catch(function () { /* keep the window */ })
        .then(function () { loading = false; });
    }
    function jumpEnd() {
      loading = true;
      return fetchPage({ edge: 'end' }).then(function (p) {
        replaceWith(p);
        follow = true;
        toBottom();
        lastY = window.scrollY;
      }).catch(function () { /* keep the window */ })
        .then(function () { loading = false; });
    }
    // Near an edge of the window (within a screen of it): load the next page there, and
    // again while still near it.
    function nearEdges() {
      if (loading) return;
      var h = window.innerHeight;
      if (olderBtn && !olderBtn.hidden && olderBtn.getBoundingClientRect().bottom > -h) {
        loadOlder().then(nearEdges);
      } else if (newerBtn && !newerBtn.hidden && newerBtn.getBoundingClientRect().top < 2 * h) {
        loadNewer().then(nearEdges);
      }
    }
    if (olderBtn) olderBtn.addEventListener('click', function () { loadOlder(); });
    if (newerBtn) newerBtn.addEventListener('click', function () { loadNewer(); });
    var edgeTimer = null;
    window.addEventListener('scroll', function () {
      if (!edgeTimer) edgeTimer = setTimeout(function () { edgeTimer = null; nearEdges(); }, 100);
    }, { passive: true });
    var jumpBtn = $('#jump-start');
    if (jumpBtn) jumpBtn.addEventListener('click', function () { jumpStart(); });

    // Find-in-session: the server finds the message (anywhere in the session) and sends
    // the page around it; the page shows it in the middle of the screen, marked.
    var findForm = $('#find');
    var findQ = $('#find-q');
    var findStatus = $('#find-status');
    var findHit = null, findText = '';
    function find(params) {
      if (!findText) return;
      params.q = findText;
      findStatus.textContent = 'Searching\u2026';
      fetchPage(params).then(function (p) {
        if (!p.found || !p.hit) {
          findStatus.textContent = findHit ? 'No more matches' : 'No message contains this';
          if (!findHit) { $('#find-prev').disabled = true; $('#find-next').disabled = true; }
          return;
        }
        if (!document.getElementById('m-' + p.hit)) { follow = false; replaceWith(p); }
        var old = list.querySelector(':scope > li.hit');
        if (old) old.classList.remove('hit');
        var li = document.getElementById('m-' + p.hit);
        if (li) {
          li.classList.add('hit');
          li.scrollIntoView({ block: 'center' });
          lastY = window.scrollY;
        }
        findHit = p.hit;
        findStatus.textContent = 'Match ' + num(p.hitIndex) + ' of ' + num(p.hits);
        $('#find-prev').disabled = p.hitIndex <= 1;
        $('#find-next').disabled = p.hitIndex >= p.hits;
      }).catch(function () { findStatus.textContent = 'Search failed'; });
    }
    if (findForm) {
      findForm.addEventListener('submit', function (e) {
        e.preventDefault();
        findText = findQ.value.trim();
        findHit = null;
        if (findText) find({}); else findStatus.textContent = '';
      });
      $('#find-next').addEventListener('click', function () { if (findHit) find({ after: findHit }); });
      $('#find-prev').addEventListener('click', function () { if (findHit) find({ before: findHit }); });
    }

    // The turn in flight (issue #18): who is thinking and for how long, against its
    // typical answer time; the seconds tick here, from the server's `since`.
    var tif = $('#turn-in-flight');
    var turn = null;
    try { turn = JSON.parse((tif && tif.dataset.turn) || 'null'); } catch (_) { turn = null; }
    function secs(ms) { return num(Math.max(0, Math.round(ms / 1000))) + ' s'; }
    function drawTurn() {
      if (!tif) return;
      if (!turn || root.dataset.status !== 'ACTIVE') { tif.hidden = true; return; }
      var since = Date.parse(turn.since);
      var spent = isFinite(since) ? Date.now() - since : 0;
      var t = turn.agentName + ' is thinking\u2026 ' + secs(spent);
      if (typeof turn.typicalMs === 'number') t += ' (typical ' + secs(turn.typicalMs) + ')';
      var stalled = typeof turn.p95Ms === 'number' && spent > turn.p95Ms;
      if (stalled) t += ' \u00b7 possibly stalled';
      $('.tif-text', tif).textContent = t;
      tif.classList.toggle('stalled', stalled);
      tif.dataset.agentId = turn.agentId;
      tif.hidden = false;
    }
    drawTurn();
    if (tif) setInterval(drawTurn, 1000);

    // The budget bar (issue #18), kept in step with routes::ui::budget: spent against
    // the budget, a marker at the projection, amber from 80 %, red from 100 %.
    var budgetBox = $('#budget');
    function money(x) { return '$' + (Number(x) || 0).toFixed(2); }
    function budgetLevel(v, u) {
      v = Math.round(v * 1e6); u = Math.round(u * 1e6);
      return v >= u ? 'red' : (v * 10 >= u * 8 ? 'amber' : 'ok');
    }
    function drawBudget(b) {
      if (!budgetBox) return;
      if (!b) { budgetBox.hidden = true; return; }
      var scale = Math.max(b.usd, b.spentUsd, b.projectedUsd);
      function pct(x) { return scale > 0 ? Math.round(x / scale * 1000) / 10 : 0; }
      $('.budget-spent', budgetBox).setAttribute('width', String(pct(b.spentUsd)));
      $('.budget-limit', budgetBox).setAttribute('x', String(Math.max(0, pct(b.usd) - 0.6)));
      $('.budget-projected', budgetBox).setAttribute('x', String(Math.max(0, pct(b.projectedUsd) - 1)));
      $('.budget-text', budgetBox).textContent = money(b.spentUsd) + ' of ' + money(b.usd) +
        ' \u00b7 projected ' + money(b.projectedUsd);
      budgetBox.dataset.level = budgetLevel(b.spentUsd, b.usd);
      budgetBox.dataset.projectedLevel = budgetLevel(b.projectedUsd, b.usd);
      budgetBox.hidden = false;
    }

    // The header's figures from a session detail or a live update's `ui.session`.
    function applyTotals(d) {
      if (!d) return;
      if ('turnInFlight' in d) { turn = d.turnInFlight; }
      if ('budget' in d) drawBudget(d.budget);
      setBadge(badge, d.status);
      root.dataset.status = d.status;
      drawTurn();
      $('#f-duration').textContent = dur(d.totalDuration);
      $('#f-messages-n').textContent = num(d.totalMessages);
      setCompleteness(d.completeness);
      $('#f-tokens').textContent = num(d.totalTokens);
      $('#f-cost').textContent = usd(d.totalCost);
      var reason = $('#f-reason');
      var r = d.errorMessage ? 'Error: ' + d.errorMessage : (d.completionReason ? 'Reason: ' + d.completionReason : '');
      reason.textContent = r;
      reason.hidden = !r;
      var s = d.summary;
      if (s && (s.text || s.shortText)) {
        $('#summary-short').textContent = s.shortText || '';
        var box = $('#summary-text');
        if (box && box.dataset.raw !== (s.text || '')) {
          box.dataset.raw = s.text || '';
          box.textContent = s.text || '';
        }
        $('#summary').hidden = false;
      }
    }

    // Only when a live event came without its `ui` member (the server could not read
    // the session): one throttled read.
    var refresh = throttle(function () {
      getJSON(apiUrl).then(applyTotals)
        .catch(function () { /* the stream will bring the next change */ });
    }, 700);

    // Server-rendered HTML from the stream (sanitized there), parsed inert.
    function parseHtml(html) {
      return new DOMParser().parseFromString('<body>' + html + '</body>', 'text/html').body;
    }

    // A live update's `ui` (issue #14): rendered once on the server for every viewer,
    // so the page makes no request per message.
    function applyUi(env, li) {
      var u = env.ui;
      if (!u) { refresh(); return; }
      if (li && typeof u.contentHtml === 'string') {
        var content = $('.content', li);
        if (content) {
          var fresh = document.importNode(parseHtml(u.contentHtml), true);
          content.textContent = '';
          while (fresh.firstChild) content.appendChild(fresh.firstChild);
          content.classList.remove('plain');
        }
      }
      if (u.session) applyTotals(u.session);
      if (typeof u.agentsChart === 'string' && u.agentsChart) {
        var fig = $('#chart-fig');
        var svg = parseHtml(u.agentsChart).querySelector('svg');
        if (fig && svg) {
          var old = $('svg', fig);
          var node = document.importNode(svg, true);
          if (old) old.replaceWith(node); else fig.insertBefore(node, fig.firstChild);
          $('#chart').hidden = false;
        }
      }
      // Context-window pressure (issue #18): the header block, rendered on the server.
      if (typeof u.contextPressureHtml === 'string') {
        var cp = $('#context-pressure');
        if (cp) {
          var cpNew = document.importNode(parseHtml(u.contextPressureHtml), true);
          cp.textContent = '';
          while (cpNew.firstChild) cp.appendChild(cpNew.firstChild);
          cp.hidden = !u.contextPressureHtml;
        }
      }
      if (typeof u.summaryHtml === 'string') {
        var box = $('#summary-text');
        if (box) {
          var b = document.importNode(parseHtml(u.summaryHtml), true);
          box.textContent = '';
          while (b.firstChild) box.appendChild(b.firstChild);
        }
      }
    }

    // End-to-end lag (issue #18): the CLI's timestamp of a live event, this server's
    // commit time (`ui.committedAt`) and this page's receive time.
    var lagBox = $('#live-lag');
    function clock(t) { return new Date(t).toISOString().slice(11, 23); }
    function span(ms) { return ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(1) + ' s'; }
    function noteLag(env, li) {
      var u = env.ui;
      if (!lagBox || !u || typeof u.committedAt !== 'string') return;
      var got = Date.now();
      var cli = Date.parse(env.timestamp);
      var committed = Date.parse(u.committedAt);
      if (!isFinite(cli) || !isFinite(committed)) return;
      var lag = Math.max(0, got - cli);
      lagBox.textContent = 'live \u00b7 ' + span(lag) + ' behind the CLI';
      lagBox.dataset.level = lag > 10000 ? 'red' : (lag > 2000 ? 'amber' : 'ok');
      lagBox.title = 'CLI ' + clock(cli) + ' \u2192 server commit ' + clock(committed) + ' \u2192 this page ' + clock(got);
      lagBox.hidden = false;
      if (li) {
        li.title = 'CLI sent ' + clock(cli) + ' UTC \u00b7 server committed ' + clock(committed) +
          ' (+' + span(Math.max(0, committed - cli)) + ') \u00b7 page received ' + clock(got) +
          ' (+' + span(Math.max(0, got - committed)) + ')';
        li.dataset.lagMs = String(lag);
      }
    }

    var box = $('#completeness');
    var incomplete = box && box.dataset.state === 'incomplete';
    if (root.dataset.status !== 'ACTIVE' && !incomplete) return;
    // A shared page whose stream broke asks whether the link still works; when it is
    // expired or revoked (410) or gone (404), the reload shows the page saying so.
    var checkShare = throttle(function () {
      fetch(apiUrl, { headers: { Accept: 'application/json' }, credentials: 'omit' })
        .then(function (r) { if (r.status === 410 || r.status === 404) location.reload(); })
        .catch(function () { /* offline: the stream retries */ });
    }, 2000);
    openStream({
      url: root.dataset.streamUrl, conversationId: sid, view: 'ui', lastEventId: root.dataset.lastEventId,
      onError: root.dataset.shared ? checkShare : null
    }, function (env) {
      if (env.conversationId !== sid) return;
      switch (env.type) {
        case 'message.created':
          var m = normaliseMessage(env, agents);
          if (isDuplicate(list, m)) { applyUi(env, null); return; }
          var li = buildMessage(m, agents);
          // Past the loaded window (issue #14): counted, shown when the reader goes there.
          var first = firstMsg();
          if (!atEnd() || (!atStart() && first && before(liKey(li), liKey(first)))) {
            applyUi(env, null);
            noteLag(env, null);
            if (!atEnd()) afterGrowth(true);
            return;
          }
          // Scrolled up, the message on the screen stays where it is, whatever lands above.
          steady(follow ? null : firstOnScreen(), function () { insertOrdered(list, li); });
          $('#messages-empty').hidden = true;
          applyUi(env, li);
          noteLag(env, li);
          // A late message slotted in above the screen is not "new below": the button
          // would take the reader to the end, where it is not.
          afterGrowth(li.getBoundingClientRect().top >= window.innerHeight);
          break;
        case 'conversation.completed':
          setBadge(badge, str((env.data || {}).status) || 'completed');
          applyUi(env, null);
          break;
        case 'conversation.updated':
          setCompleteness((env.data || {}).completeness);
          applyUi(env, null);
          break;
        case 'conversation.error':
        case 'error.occurred':
          if (!atEnd()) { afterGrowth(true); applyUi(env, null); break; }
          if (placeError(list, buildError(env, agents))) {
            $('#messages-empty').hidden = true;
            afterGrowth(true);
          }
          applyUi(env, null);
          break;
        case 'conversation.interrupted':
          setBadge(badge, 'INTERRUPTED');
          applyUi(env, null);
          break;
        default:
          applyUi(env, null);
      }
      if (env.type !== 'message.created') noteLag(env, null);
    });
  }

  function start() {
    var p = document.body.dataset.page;
    if (p === 'dashboard') dashboard();
    else if (p === 'session') session();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
