/* Read-only diagrams: the instance viewer (state markers) and the version diff (change markers). */
(function () {
  'use strict';
  var Viewer = window.BpmnJS;

  function read(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function show(container, xml, marks) {
    var viewer = new Viewer({ container: container });
    return viewer.importXML(xml).then(function () {
      var canvas = viewer.get('canvas');
      var registry = viewer.get('elementRegistry');
      canvas.zoom('fit-viewport');
      Object.keys(marks).forEach(function (kind) {
        (marks[kind] || []).forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, 'dz-' + kind); }
        });
      });
      container.dataset.ready = 'true';
      return viewer;
    }).catch(function (err) {
      container.dataset.ready = 'error';
      container.textContent = String(err && err.message || err);
    });
  }

  var instance = read('viewer-config');
  if (instance) {
    show(document.getElementById('canvas'), instance.xml, instance.markers);
  }
  var diff = read('diff-config');
  if (diff) {
    show(document.getElementById('canvas-old'), diff.old,
      { removed: diff.diff.removed, changed: Object.keys(diff.diff.changed) });
    show(document.getElementById('canvas-new'), diff.new,
      { added: diff.diff.added, changed: Object.keys(diff.diff.changed) });
  }
})();
