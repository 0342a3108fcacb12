// The offline HTML export (issue #18): collapse/expand all messages and copy buttons.
// Inlined into the file and allowed by its Content-Security-Policy hash; it makes no request.
(function () {
  function fallback(text) {
    var ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'offscreen';
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    ta.remove();
    return ok;
  }
  function copy(text, button) {
    var label = button.getAttribute('data-label') || button.textContent;
    button.setAttribute('data-label', label);
    function done(ok) {
      button.textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(function () { button.textContent = label; }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); },
        function () { done(fallback(text)); });
    } else {
      done(fallback(text));
    }
  }
  document.addEventListener('click', function (e) {
    var b = e.target.closest ? e.target.closest('button') : null;
    if (!b) return;
    var src = b.getAttribute('data-copy');
    var act = b.getAttribute('data-act');
    if (src) {
      var el = document.getElementById(src);
      copy(el ? el.value : '', b);
    } else if (act === 'collapse' || act === 'expand') {
      var open = act === 'expand';
      document.querySelectorAll('details.msg').forEach(function (d) { d.open = open; });
    }
  });
})();
