/* Read-only diagrams: the instance viewer (state markers) and the version diff (change markers). */
(function () {
  'use strict';
  var Viewer = window.BpmnJS;

  function read(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  // A diagram deployed without layout (hand-written, or from a tool that writes none) is laid out
  // for display, its flows' <incoming>/<outgoing> first restored for the layout to follow.
  function laidOut(viewer, xml) {
    var layout = window.DesignerLint && window.DesignerLint.layoutProcess;
    if (!layout) { return Promise.reject(new Error('no layout')); }
    var moddle = viewer.get('moddle');
    return moddle.fromXML(xml, 'bpmn:Definitions').then(function (parsed) {
      function walk(elements) {
        (elements || []).forEach(function (e) {
          if (e.$type === 'bpmn:SequenceFlow') {
            [[e.sourceRef, 'outgoing'], [e.targetRef, 'incoming']].forEach(function (pair) {
              if (pair[0] && pair[0].get(pair[1]).indexOf(e) < 0) { pair[0].get(pair[1]).push(e); }
            });
          }
          if (e.flowElements) { walk(e.flowElements); }
        });
      }
      (parsed.rootElement.get('rootElements') || []).forEach(function (r) { walk(r.flowElements); });
      return moddle.toXML(parsed.rootElement);
    }).then(function (out) { return layout(out.xml); }).then(function (text) { return viewer.importXML(text); });
  }

  function show(container, xml, marks) {
    var viewer = new Viewer({ container: container });
    return viewer.importXML(xml).catch(function (err) {
      return laidOut(viewer, xml).catch(function () { throw err; });
    }).then(function () {
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
