// AgentPipe Web: one live connection per browser for all the tabs of the origin (issue #14).
//
// A SharedWorker, started by app.js (`new SharedWorker('/static/live-worker.js?v=...')`).
// Over HTTP/1.1 a browser opens at most 6 connections per host: with one EventSource per
// tab, the seventh tab never loaded. Here every tab's stream is one port of this worker,
// and the worker holds ONE EventSource per stream URL (`/api/realtime/stream` for every
// tab; `/s/{token}/stream` per share link), relaying to each port what it asked for.
//
// Protocol (tab -> worker): {type:'subscribe', url, conversationId|null, ui, lastEventId|null,
// lock}, {type:'ping'} (every 20 s), {type:'close'} (pagehide). Worker -> tab: {type:'hello'}
// (on connect: the worker runs), {type:'state', state, text, retryAt} (connecting / live /
// reconnecting / offline, for #conn; retryAt: epoch ms of the next try while offline), {type:'event', env} (an SSE envelope, in id order,
// each id once), {type:'error'} (the stream broke: a share page then checks its link).
// {type:'status'} (diagnostics) is answered with the streams held: [{url, ports, open, state, pos}].
//
// Gap-free: each port starts at the event-log id its page was rendered at and is handed only
// events with a greater id. The stream is always connected from the lowest id any port needs
// (`lastEventId`), so a tab that joins with an older id than the stream's position makes the
// stream reconnect from that id; the ports already further along drop what they have seen.
//
// What the one realtime stream asks for: every conversation when a tab wants everything
// (the dashboard) or tabs want different ones, else `conversationId=<that one>`; `view=ui`
// with `uiFor=[the conversations of the session tabs]` only, so the server renders the
// HTML of those conversations' events and sends the rest as plain SPEC 4 envelopes (an
// unfiltered `view=ui` would render every event of every conversation on the server).
// A tab leaving does not narrow the stream (no reconnect); the next reconnect does.
//
// A port is dropped on its `close`, when the tab's Web Lock is released (the tab is gone),
// or after 130 s without a ping (hidden tabs run timers about once a minute); the stream is
// closed when its last port goes.
'use strict';

var REALTIME = '/api/realtime/stream';
var PORT_TIMEOUT_MS = 130000;
var streams = {};

function send(port, msg) {
  try { port.postMessage(msg); } catch (_) { /* a dead port */ }
}

function isId(v) { return typeof v === 'number' && isFinite(v); }

function getStream(url) {
  var st = streams[url];
  if (!st) {
    st = streams[url] = {
      url: url, subs: [], es: null, cur: null, pos: null, state: 'connecting',
      text: 'Connecting\u2026', failures: 0, retryTimer: null, planTimer: null
    };
  }
  return st;
}

function setState(st, state, text, retryAt) {
  st.state = state;
  st.text = text;
  st.retryAt = retryAt;
  st.subs.forEach(function (s) { send(s.port, { type: 'state', state: state, text: text, retryAt: retryAt }); });
}

// What the stream must ask for so that every port gets its events: {cid, ui: [ids]}.
function wanted(st) {
  var all = false, cids = {}, ui = {};
  st.subs.forEach(function (s) {
    if (s.cid === null) all = true; else cids[s.cid] = true;
    if (s.ui && s.cid !== null) ui[s.cid] = true;
  });
  var list = Object.keys(cids);
  return { cid: !all && list.length === 1 ? list[0] : null, ui: Object.keys(ui).sort() };
}

// Whether the stream asked for `have` serves a stream that must be `want`.
function covers(have, want) {
  if (!have) return false;
  if (have.cid !== null && have.cid !== want.cid) return false;
  return want.ui.every(function (c) { return have.ui.indexOf(c) >= 0; });
}

function query(st, w, from) {
  var q = [];
  if (st.url !== REALTIME) {
    // A share link's stream is fixed to its conversation by the server.
    if (w.ui.length) q.push('view=ui');
  } else if (w.cid !== null) {
    q.push('conversationId=' + encodeURIComponent(w.cid));
    if (w.ui.length) q.push('view=ui');
  } else if (w.ui.length) {
    q.push('view=ui');
    q.push('uiFor=' + encodeURIComponent(JSON.stringify(w.ui)));
  }
  if (isId(from)) q.push('lastEventId=' + from);
  return st.url + (q.length ? '?' + q.join('&') : '');
}

// The lowest id a port still needs (null: every port takes what comes from now on).
function lowest(st) {
  var min = null;
  st.subs.forEach(function (s) { if (isId(s.last) && (min === null || s.last < min)) min = s.last; });
  return min;
}

function connect(st) {
  if (st.es) {
    st.es.onopen = st.es.onerror = st.es.onmessage = null;
    st.es.close();
    st.es = null;
  }
  var w = wanted(st);
  var from = lowest(st);
  st.cur = w;
  st.pos = from;
  st.subs.forEach(function (s) {
    s.covered = true;
    if (!isId(s.last)) s.last = from;
  });
  var es = st.es = new EventSource(query(st, w, from));
  if (st.state !== 'live') setState(st, 'connecting', 'Connecting\u2026');
  es.onopen = function () { st.failures = 0; setState(st, 'live', 'Live'); };
  es.onerror = function () {
    st.subs.forEach(function (s) { send(s.port, { type: 'error' }); });
    if (es.readyState === EventSource.CLOSED) {
      // Refused (503) or ended: back off with jitter (1-2 s, doubling to 30 s), as a tab did.
      st.failures += 1;
      var base = Math.min(30000, 1000 * Math.pow(2, Math.min(st.failures - 1, 5)));
      var wait = Math.round(base * (1 + Math.random()));
      setState(st, 'offline', 'Live updates paused', Date.now() + wait);
      if (st.es === es) st.es = null;
      if (!st.retryTimer) {
        st.retryTimer = setTimeout(function () {
          st.retryTimer = null;
          if (st.subs.length) connect(st);
        }, wait);
      }
    } else {
      // EventSource retries by itself, sending Last-Event-ID (= st.pos).
      setState(st, 'reconnecting', 'Reconnecting\u2026');
    }
  };
  es.onmessage = function (e) {
    var env;
    try { env = JSON.parse(e.data); } catch (_) { return; }
    if (!env || typeof env !== 'object') return;
    if (env.type === 'connected') { setState(st, 'live', 'Live'); return; }
    var sseId = e.lastEventId === '' ? null : Number(e.lastEventId);
    if (env.type === 'reload') { reload(st, env, isId(sseId) ? sseId : null); return; }
    var id = isId(env.id) ? env.id : null;
    if (st.state !== 'live') setState(st, 'live', 'Live');
    st.subs.forEach(function (s) {
      if (!s.covered) return;
      if (id !== null) {
        if (isId(s.last) && id <= s.last) return;
        s.last = id;
      }
      if (s.cid === null || env.conversationId === s.cid) send(s.port, { type: 'event', env: env });
    });
    if (id !== null) st.pos = id;
  };
}

// A `reload` message (SPEC 4, 9): the stream goes on after its id. It concerns the ports that
// needed events pruned from the log (their id is below it) or that are ahead of this log.
function reload(st, env, id) {
  if (id === null) return;
  var pruned = isId(env.oldestEventId);
  st.subs.forEach(function (s) {
    if (!s.covered) return; // the reconnect planned for it resumes from its own id
    if (!isId(s.last)) { s.last = id; return; }
    if (pruned ? s.last < id : s.last > id) {
      s.last = id;
      send(s.port, { type: 'event', env: env });
    }
  });
  st.pos = id;
}

// After ports joined: reconnect when the stream does not serve them all from where they are.
function plan(st) {
  if (st.planTimer) return;
  st.planTimer = setTimeout(function () {
    st.planTimer = null;
    if (!st.subs.length) return;
    if (st.retryTimer) return; // the retry connects for everyone
    var from = lowest(st);
    var behind = isId(from) && (!isId(st.pos) || from < st.pos);
    if (!st.es || behind || !covers(st.cur, wanted(st))) {
      connect(st);
      return;
    }
    st.subs.forEach(function (s) {
      if (s.covered) return;
      s.covered = true;
      if (!isId(s.last)) s.last = st.pos;
    });
  }, 20);
}

// A port leaves. The last one closes the stream at once: the browser may end a worker
// that no page uses any more without closing its connections (Chromium then kept the
// stream open on the server).
function drop(sub) {
  var st = sub.stream;
  var i = st.subs.indexOf(sub);
  if (i < 0) return;
  st.subs.splice(i, 1);
  if (st.subs.length) return;
  if (st.es) { st.es.onopen = st.es.onerror = st.es.onmessage = null; st.es.close(); st.es = null; }
  if (st.retryTimer) clearTimeout(st.retryTimer);
  if (st.planTimer) clearTimeout(st.planTimer);
  if (streams[st.url] === st) delete streams[st.url];
}

function lastOf(v) {
  if (isId(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return null;
}

self.onconnect = function (e) {
  var port = e.ports[0];
  var sub = null;
  port.onmessage = function (m) {
    var d = m.data || {};
    if (d.type === 'subscribe') {
      if (sub) drop(sub);
      var url = typeof d.url === 'string' && d.url.charAt(0) === '/' ? d.url : REALTIME;
      var st = getStream(url);
      sub = {
        port: port, stream: st, covered: false, seen: Date.now(), ui: !!d.ui,
        cid: typeof d.conversationId === 'string' && d.conversationId ? d.conversationId : null,
        last: lastOf(d.lastEventId)
      };
      st.subs.push(sub);
      send(port, { type: 'state', state: st.state, text: st.text, retryAt: st.retryAt });
      var mine = sub;
      if (typeof d.lock === 'string' && self.navigator && navigator.locks) {
        // Granted once the tab, which holds this lock for its life, is gone.
        try { navigator.locks.request(d.lock, function () { drop(mine); }); } catch (_) { /* pings */ }
      }
      plan(st);
    } else if (d.type === 'ping') {
      if (sub) sub.seen = Date.now();
    } else if (d.type === 'status') {
      // Diagnostics (and the browser tests): the streams this worker holds.
      send(port, { type: 'status', streams: Object.keys(streams).map(function (u) {
        var st = streams[u];
        return { url: u, ports: st.subs.length, open: !!st.es, state: st.state, pos: st.pos };
      }) });
    } else if (d.type === 'close') {
      if (sub) drop(sub);
      sub = null;
    }
  };
  port.start();
  send(port, { type: 'hello' });
};

setInterval(function () {
  var now = Date.now();
  Object.keys(streams).forEach(function (url) {
    streams[url].subs.slice().forEach(function (s) { if (now - s.seen > PORT_TIMEOUT_MS) drop(s); });
  });
}, 30000);
