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

  // A case's diagram opens on what is going on now at a readable scale (a whole diagram fitted
  // into the card is too small to read); "Whole diagram" fits it again, and it can be panned.
  var READABLE = 0.9;

  function focusActive(canvas, registry, container, marks) {
    function shown(list) { return (list || []).filter(function (id) { return registry.get(id); }); }
    // open tasks of a called process (an 8D) are not on this diagram: then its waiting call activity
    var ids = shown((marks.active || []).concat(marks.overdue || []));
    if (!ids.length) { ids = shown(marks.waiting); }
    if (!ids.length || canvas.viewbox().scale >= READABLE) { return; }
    var box = ids.map(function (id) { return registry.get(id); }).reduce(function (acc, e) {
      return { x1: Math.min(acc.x1, e.x), y1: Math.min(acc.y1, e.y),
               x2: Math.max(acc.x2, e.x + (e.width || 0)), y2: Math.max(acc.y2, e.y + (e.height || 0)) };
    }, { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity });
    // always readable: centred on the active part when it fits, else starting at its left/top
    var width = container.clientWidth / READABLE;
    var height = container.clientHeight / READABLE;
    var x = box.x2 - box.x1 + 80 <= width ? (box.x1 + box.x2) / 2 - width / 2 : box.x1 - 40;
    var y = box.y2 - box.y1 + 80 <= height ? (box.y1 + box.y2) / 2 - height / 2 : box.y1 - 40;
    canvas.viewbox({ x: x, y: y, width: width, height: height });
    container.dataset.focused = 'true';
    var fit = document.querySelector('[data-action=diagram-fit]');
    if (fit) {
      fit.addEventListener('click', function () { canvas.zoom('fit-viewport'); container.dataset.focused = 'false'; });
    }
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
      if (container.dataset.focus === 'active') { focusActive(canvas, registry, container, marks); }
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
