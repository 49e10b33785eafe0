// pushdeploy console: actions through the REST API and live updates. No framework, no build.
// The API token lives in sessionStorage (this tab only) and is sent as a Bearer header: never
// in a URL or a cookie, so no request carries a credential the browser adds by itself.
// Server text is only ever set as textContent, never parsed as HTML into this page.
'use strict';
(() => {
  const KEY = 'pushdeploy.token';
  const $ = (id) => document.getElementById(id);
  const token = () => sessionStorage.getItem(KEY) || '';
  let pending = null;

  function reveal(root) {
    for (const element of root.querySelectorAll('.js-only')) {
      if (element.id !== 'confirm') element.hidden = false;
    }
  }

  function showToken() {
    $('token-state').textContent = token() ? 'token set for this tab' : 'no token: actions are refused';
  }

  function say(text, kind) {
    const result = $('result');
    result.textContent = text;
    result.className = kind;
  }

  $('token').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token-input').value.trim();
    if (value) sessionStorage.setItem(KEY, value);
    $('token-input').value = '';
    showToken();
  });
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    showToken();
  });

  document.addEventListener('click', (event) => {
    const button = event.target.closest('button.action');
    if (!button) return;
    if (!token()) {
      say('Enter an API token first (a token with the promote scope for promotions and pins).', 'failed');
      return;
    }
    pending = { path: button.dataset.path, body: button.dataset.body || '{}', preview: button.dataset.preview };
    $('confirm-text').textContent = 'This ' + pending.preview + '.';
    $('confirm').hidden = false;
    $('confirm-yes').focus();
  });
  $('confirm-no').addEventListener('click', () => {
    pending = null;
    $('confirm').hidden = true;
  });
  $('confirm-yes').addEventListener('click', async () => {
    const call = pending;
    pending = null;
    $('confirm').hidden = true;
    if (!call) return;
    say('Working: ' + call.preview + '…', '');
    try {
      const answer = await fetch(call.path, {
        method: 'POST',
        headers: { 'Authorization': 'Bearer ' + token(), 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: call.body,
        cache: 'no-store',
        credentials: 'omit',
      });
      const text = await answer.text();
      let json = null;
      try { json = JSON.parse(text); } catch (_) { /* not JSON */ }
      if (answer.ok) {
        const commit = json && json.commit ? ' (commit ' + String(json.commit).slice(0, 12) + ')' : '';
        say('Done: ' + call.preview + commit + '.', 'done');
      } else {
        const detail = json && (json.detail || json.title) ? (json.detail || json.title) : text;
        say('Refused (' + answer.status + '): ' + detail, 'failed');
      }
    } catch (error) {
      say('The call failed: ' + error, 'failed');
    }
    await refresh();
  });

  let version = document.body.dataset.version;
  async function refresh() {
    try {
      const answer = await fetch(location.pathname, { cache: 'no-store', credentials: 'omit' });
      if (!answer.ok) return;
      const parsed = new DOMParser().parseFromString(await answer.text(), 'text/html');
      const main = parsed.getElementById('main');
      if (!main) return;
      $('main').replaceWith(document.adoptNode(main));
      reveal($('main'));
      version = main.dataset.version;
      document.body.dataset.version = version;
      const readiness = parsed.getElementById('readiness');
      if (readiness) $('readiness').replaceWith(document.adoptNode(readiness));
    } catch (_) { /* the next poll tries again */ }
  }
  async function poll() {
    try {
      const answer = await fetch('/console/version', { cache: 'no-store', credentials: 'omit' });
      if (answer.ok) {
        const { version: now } = await answer.json();
        if (now !== version) await refresh();
      }
    } catch (_) { /* the service is restarting: keep polling */ }
    setTimeout(poll, 2000);
  }

  reveal(document);
  showToken();
  setTimeout(poll, 2000);
})();
