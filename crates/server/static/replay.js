// AgentPipe Web: the session replay player (issue #20), for /sessions/{id}/replay.
//
// - The page holds every message already rendered by the server (sanitized Markdown),
//   out of view; the timeline (ms offsets of messages, errors and other events) comes
//   from GET /api/sessions/{id}/replay.
// - Playing moves a position along the timeline at 1x, 2x or 10x the original pace (or
//   jumps to the end); every entry at or before the position is shown, the rest hidden,
//   so the scrubber and the marks (one per message and per error) jump both ways. The
//   totals and the per-agent panel are recomputed for the position.
// - A session still ACTIVE continues live once the position reaches its end: the live
//   stream (/api/realtime/stream?conversationId=...; through app.js's AgentPipeLive, the
//   browser's one live connection shared by all tabs, issue #14) says when something
//   happened, the timeline is read again and new messages are fetched as rendered fragments.
// No inline script or style (strict CSP): positions are set through the CSSOM and every
// text through textContent.
(function () {
  'use strict';

  function $(sel) { return document.querySelector(sel); }
  function num(n) { return Number(n || 0).toLocaleString('en-US'); }
  function usd(c) {
    c = Number(c || 0);
    return '$' + (Math.abs(c) < 1 ? c.toFixed(4) : c.toFixed(2));
  }
  function clockText(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = (h ? String(m).padStart(2, '0') : String(m));
    return (h ? h + ':' : '') + mm + ':' + String(r).padStart(2, '0');
  }

  function start() {
    var root = $('#replay');
    if (!root) return;
    var sid = root.dataset.sessionId;
    var list = $('#rp-list'), scrub = $('#rp-scrub'), marks = $('#rp-marks');
    var playBtn = $('#rp-play'), speedSel = $('#rp-speed'), clock = $('#rp-clock');
    var liveBadge = $('#rp-live'), statusBadge = $('#rp-status'), empty = $('#rp-empty');
    var agentsList = $('#rp-agents');

    var data = null;          // the last replay read from the API
    var entries = [];         // data.entries, each with .node (its element in the list)
    var duration = 0;         // ms
    var pos = 0;              // ms
    var playing = false;
    var lastTick = 0;
    var timer = null;
    var stream = null;
    var agents = {};          // agentId -> panel row state
    var agentOrder = [];

    function speed() { return speedSel.value === 'instant' ? Infinity : Number(speedSel.value) || 1; }

    function entryNode(e) {
      if (e.kind === 'message') return document.getElementById('m-' + e.message.id);
      var li = document.createElement('li');
      li.className = 'rp-event rp-' + e.kind;
      var strong = li.appendChild(document.createElement('strong'));
      strong.textContent = e.kind === 'error' ? 'Error' : e.eventType;
      if (e.text) li.appendChild(document.createTextNode(' ' + e.text));
      var t = li.appendChild(document.createElement('time'));
      t.setAttribute('datetime', e.timestamp);
      t.textContent = ' ' + e.timestamp.slice(11, 19) + ' UTC';
      return li;
    }

    function agentRow(m, node) {
      var id = m.agentId;
      if (agents[id]) return agents[id];
      var li = document.createElement('li');
      var colour = node ? (String(node.className).match(/\ba\d\b/) || [''])[0] : '';
      li.className = 'rp-agent ' + colour;
      li.dataset.agent = id;
      var name = li.appendChild(document.createElement('strong'));
      name.textContent = (node && node.querySelector('.who') ? node.querySelector('.who').textContent : '') || m.agentName || id;
      var figs = li.appendChild(document.createElement('span'));
      figs.className = 'rp-agent-figs muted small';
      var track = li.appendChild(document.createElement('span'));
      track.className = 'rp-bar-track';
      var bar = track.appendChild(document.createElement('span'));
      bar.className = 'rp-bar';
      agentsList.appendChild(li);
      agents[id] = { li: li, figs: figs, bar: bar };
      agentOrder.push(id);
      return agents[id];
    }

    // (Re)builds the list order, the marks and the agent rows from `entries`.
    function layout() {
      entries.forEach(function (e) {
        if (!e.node) e.node = entryNode(e);
        if (e.node) list.appendChild(e.node);
        if (e.kind === 'message' && e.message.role === 'agent') agentRow(e.message, e.node);
      });
      marks.textContent = '';
      entries.forEach(function (e) {
        if (e.kind === 'event') return;
        var b = document.createElement('button');
        b.type = 'button';
        b.className = 'rp-mark rp-mark-' + e.kind;
        b.style.left = (duration > 0 ? (100 * e.offsetMs / duration) : 0) + '%';
        b.title = (e.kind === 'error' ? 'Error' : ((e.message.agentName || e.message.agentId) + ' message')) + ' at ' + clockText(e.offsetMs);
        b.setAttribute('aria-label', b.title);
        b.dataset.offset = String(e.offsetMs);
        b.addEventListener('click', function () { seek(e.offsetMs); });
        marks.appendChild(b);
      });
      scrub.max = String(duration);
    }

    function render() {
      var shown = 0, tokens = 0, cost = 0, errors = 0, newest = null;
      var per = {};
      entries.forEach(function (e) {
        var visible = e.offsetMs <= pos;
        if (e.node) {
          if (visible && !e.node.classList.contains('shown')) newest = e.node;
          e.node.classList.toggle('shown', visible);
        }
        if (!visible) return;
        if (e.kind === 'error') errors += 1;
        if (e.kind !== 'message') return;
        shown += 1;
        var mx = e.message.metrics || {};
        var t = mx.totalTokens || 0, c = mx.cost || 0;
        tokens += t; cost += c;
        var a = per[e.message.agentId] || (per[e.message.agentId] = { n: 0, tokens: 0, cost: 0 });
        a.n += 1; a.tokens += t; a.cost += c;
      });
      $('#rp-messages').textContent = num(shown);
      $('#rp-tokens').textContent = num(tokens);
      $('#rp-cost').textContent = usd(cost);
      $('#rp-errors').textContent = num(errors);
      var max = 0;
      agentOrder.forEach(function (id) { max = Math.max(max, (per[id] || {}).tokens || 0); });
      agentOrder.forEach(function (id) {
        var a = per[id] || { n: 0, tokens: 0, cost: 0 }, row = agents[id];
        row.figs.textContent = (Number(a.n) === 1 ? '1 message' : num(a.n) + ' messages') + ' \u00b7 ' + num(a.tokens) + (Number(a.tokens) === 1 ? ' token' : ' tokens') + ' \u00b7 ' + usd(a.cost);
        row.bar.style.width = (max > 0 ? (100 * a.tokens / max) : 0) + '%';
      });
      empty.hidden = shown > 0 || errors > 0;
      scrub.value = String(Math.round(pos));
      root.dataset.position = String(Math.round(pos));
      clock.textContent = clockText(pos) + ' / ' + clockText(duration);
      if (newest && playing) newest.scrollIntoView({ block: 'nearest' });
    }

    function setPlaying(p) {
      playing = p;
      playBtn.textContent = p ? 'Pause' : (pos >= duration && duration > 0 ? 'Replay' : 'Play');
      playBtn.setAttribute('aria-pressed', p ? 'true' : 'false');
      root.dataset.playing = p ? '1' : '0';
      if (p) {
        lastTick = performance.now();
        if (!timer) timer = setInterval(tick, 50);
      } else if (timer) {
        clearInterval(timer);
        timer = null;
      }
    }

    function tick() {
      var now = performance.now();
      var s = speed();
      pos = s === Infinity ? duration : pos + (now - lastTick) * s;
      lastTick = now;
      if (pos >= duration) {
        pos = duration;
        render();
        if (data && data.live) { goLive(); } else { setPlaying(false); }
        return;
      }
      render();
    }

    function seek(ms) {
      pos = Math.max(0, Math.min(duration, Number(ms) || 0));
      lastTick = performance.now();
      render();
    }

    playBtn.addEventListener('click', function () {
      if (!playing && pos >= duration) pos = 0;
      setPlaying(!playing);
      if (playing && speed() === Infinity) tick();
    });
    speedSel.addEventListener('change', function () { if (playing && speed() === Infinity) tick(); });
    scrub.addEventListener('input', function () { seek(scrub.value); });

    // ---- live continuation ----

    var refetching = false, again = false;
    function refetch() {
      if (refetching) { again = true; return; }
      refetching = true;
      var atEnd = pos >= duration;
      fetch('/api/sessions/' + encodeURIComponent(sid) + '/replay', { credentials: 'same-origin' })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (d) {
          var known = {};
          entries.forEach(function (e) { known[key(e)] = e; });
          var fresh = d.entries.filter(function (e) { return !known[key(e)]; });
          return Promise.all(fresh.map(function (e) {
            if (e.kind !== 'message' || document.getElementById('m-' + e.message.id)) return null;
            return fetch('/sessions/' + encodeURIComponent(sid) + '/messages/' + encodeURIComponent(e.message.id) + '/fragment', { credentials: 'same-origin' })
              .then(function (r) { return r.ok ? r.text() : ''; })
              .then(function (html) {
                var node = new DOMParser().parseFromString(html, 'text/html').querySelector('li.msg');
                if (node) list.appendChild(document.importNode(node, true));
              });
          })).then(function () {
            data = d;
            entries = d.entries.map(function (e) { var k = known[key(e)]; if (k) e.node = k.node; return e; });
            duration = d.durationMs;
            if (atEnd) pos = duration;
            layout();
            render();
            statusBadge.textContent = d.status;
            statusBadge.className = 'badge status-' + d.status.toLowerCase();
            if (!d.live) stopLive();
          });
        })
        .catch(function () { /* the next event tries again */ })
        .then(function () {
          refetching = false;
          if (again) { again = false; refetch(); }
        });
    }
    function key(e) { return e.kind === 'message' ? 'm:' + e.message.id : e.eventType + ':' + e.timestamp + ':' + (e.text || ''); }

    function goLive() {
      setPlaying(false);
      playBtn.textContent = 'Play';
      if (stream) return;
      liveBadge.hidden = false;
      root.dataset.live = '1';
      var last = data && data.lastEventId !== null && data.lastEventId !== undefined ? data.lastEventId : null;
      var onEvent = function (env) { if (env && env.conversationId === sid) refetch(); };
      if (window.AgentPipeLive) {
        // app.js's stream: the browser's one shared live connection (issue #14), else
        // this tab's own.
        stream = window.AgentPipeLive.open({ conversationId: sid, lastEventId: last }, onEvent);
      } else {
        var q = 'conversationId=' + encodeURIComponent(sid);
        if (last !== null) q += '&lastEventId=' + encodeURIComponent(String(last));
        var es = new EventSource('/api/realtime/stream?' + q);
        es.onmessage = function (ev) {
          var env;
          try { env = JSON.parse(ev.data); } catch (_) { return; }
          onEvent(env);
        };
        stream = es;
      }
      refetch();
    }
    function stopLive() {
      if (stream) { stream.close(); stream = null; }
      liveBadge.hidden = true;
      root.dataset.live = '0';
    }

    fetch('/api/sessions/' + encodeURIComponent(sid) + '/replay', { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (d) {
        data = d;
        entries = d.entries;
        duration = d.durationMs;
        layout();
        render();
        playBtn.disabled = false;
        root.dataset.ready = '1';
      })
      .catch(function () {
        clock.textContent = 'The timeline could not be loaded.';
      });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
