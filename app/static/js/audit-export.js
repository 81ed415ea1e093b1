// Progress of an audit-trail export: polls the export's progress URL until it is finished.
(function () {
  var card = document.querySelector('[data-testid="audit-export-card"]');
  if (!card) { return; }
  var bar = card.querySelector('.progress-bar');
  var status = card.querySelector('[data-testid="audit-export-status"]');
  var template = card.dataset.progressTemplate, done = card.dataset.progressDone;
  function poll() {
    fetch(card.dataset.progressUrl, {headers: {'Accept': 'application/json'}}).then(function (r) { return r.json(); }).then(function (p) {
      bar.style.width = (p.total ? Math.round(100 * p.written / p.total) : 100) + '%';
      status.textContent = p.finished ? done : template.replace('{w}', p.written).replace('{t}', p.total);
      if (!p.finished) { setTimeout(poll, 1000); }
    }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
