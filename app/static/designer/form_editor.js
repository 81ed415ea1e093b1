/* Form editor: JSON on the left, a live preview rendered by the server's form macros on the right. */
(function () {
  'use strict';
  var textarea = document.getElementById('form-json');
  var preview = document.getElementById('form-preview');
  var status = document.getElementById('form-status');
  var saveButton = document.getElementById('save-form');
  var csrf = document.querySelector('meta[name=csrf-token]').content;
  var timer = null;

  function say(kind, text) {
    status.className = 'alert alert-' + kind;
    status.textContent = text;
  }

  function parsed() {
    try { return JSON.parse(textarea.value); } catch (e) { return e; }
  }

  function post(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf },
      body: JSON.stringify(body)
    });
  }

  function refresh() {
    var content = parsed();
    if (content instanceof Error) { preview.textContent = content.message; return; }
    post(preview.dataset.url, { content: content }).then(function (r) { return r.text(); })
      .then(function (html) { preview.innerHTML = html; });  // server-rendered, escaped by Jinja
  }

  textarea.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  });

  saveButton.addEventListener('click', function () {
    var content = parsed();
    if (content instanceof Error) { say('danger', content.message); return; }
    var keyInput = document.getElementById('form-key');
    var key = saveButton.dataset.key || (keyInput && keyInput.value) || content.key;
    var url = saveButton.dataset.urlTemplate.replace('__KEY__', encodeURIComponent(key || ''));
    post(url, { content: content }).then(function (r) { return r.json(); }).then(function (data) {
      if (data.ok) {
        say('success', data.message);
        if (!saveButton.dataset.key) { window.location = data.url; }
      } else {
        say('danger', (data.problems || []).map(function (p) { return p.message; }).join('\n'));
      }
    });
  });
  refresh();
})();
