/* The BPMN modeler: bpmn-js with our spiffworkflow properties in a small side panel,
   validation (problems shown on the elements), deploy, open a local file, download. */
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('designer-config').textContent);
  var t = JSON.parse(document.getElementById('designer-i18n').textContent);
  var csrf = document.querySelector('meta[name=csrf-token]').content;
  var panel = document.getElementById('properties');
  var statusBox = document.getElementById('designer-status');
  var problemList = document.getElementById('problems');
  var filename = config.filename || 'diagram.bpmn';
  var draftKey = 'designer-draft:' + (config.definition_id || 'new');

  var modeler = new window.BpmnJS({
    container: '#canvas',
    keyboard: { bindTo: document },
    moddleExtensions: { spiffworkflow: window.SpiffworkflowModdle }
  });
  window.designerModeler = modeler;  // for tests and the console

  var USER_TASK_PROPS = ['formKey', 'department', 'dueAt', 'nameEn', 'assignee', 'stage'];

  function status(kind, text) {
    statusBox.className = 'alert alert-' + kind;
    statusBox.textContent = text;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === 'text') { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  // ------------------------------------------------------------------ spiffworkflow properties

  function propertiesElement(bo) {
    var ext = bo.extensionElements;
    if (!ext) { return null; }
    return (ext.values || []).filter(function (v) { return v.$type === 'spiffworkflow:Properties'; })[0] || null;
  }

  function getProperty(bo, name) {
    var props = propertiesElement(bo);
    var found = props && (props.properties || []).filter(function (p) { return p.name === name; })[0];
    return found ? (found.value || '') : '';
  }

  function setProperty(element, name, value) {
    var moddle = modeler.get('moddle');
    var modeling = modeler.get('modeling');
    var bo = element.businessObject;
    var ext = bo.extensionElements || moddle.create('bpmn:ExtensionElements', { values: [] });
    var props = propertiesElement(bo);
    if (!props) {
      props = moddle.create('spiffworkflow:Properties', { properties: [] });
      props.$parent = ext;
      ext.get('values').push(props);
    }
    var list = props.get('properties');
    var existing = list.filter(function (p) { return p.name === name; })[0];
    if (value) {
      if (existing) { existing.value = value; } else {
        var prop = moddle.create('spiffworkflow:Property', { name: name, value: value });
        prop.$parent = props;
        list.push(prop);
      }
    } else if (existing) {
      list.splice(list.indexOf(existing), 1);
    }
    ext.$parent = bo;
    modeling.updateProperties(element, { extensionElements: ext });
  }

  // ------------------------------------------------------------------ side panel

  function field(label, input, help) {
    var id = 'prop-' + Math.random().toString(36).slice(2);
    input.id = id;
    var children = [el('label', { 'class': 'form-label small mb-1', 'for': id, text: label }), input];
    if (help) { children.push(el('div', { 'class': 'form-text', text: help })); }
    return el('div', { 'class': 'mb-2' }, children);
  }

  function textInput(value, onChange, name, multiline) {
    var input = el(multiline ? 'textarea' : 'input', { 'class': 'form-control form-control-sm', name: name });
    if (multiline) { input.rows = 4; input.classList.add('font-monospace'); }
    input.value = value || '';
    input.addEventListener('change', function () { onChange(input.value.trim() ? input.value : ''); });
    return input;
  }

  function selectInput(value, options, onChange, name) {
    var select = el('select', { 'class': 'form-select form-select-sm', name: name });
    select.appendChild(el('option', { value: '', text: t.none }));
    var values = options.slice();
    if (value && values.indexOf(value) < 0) { values.push(value); }
    values.forEach(function (option) { select.appendChild(el('option', { value: option, text: option })); });
    select.value = value || '';
    select.addEventListener('change', function () { onChange(select.value); });
    return select;
  }

  function departmentInput(value, onChange) {
    var listId = 'dept-codes';
    if (!document.getElementById(listId)) {
      var list = el('datalist', { id: listId });
      config.departments.forEach(function (code) { list.appendChild(el('option', { value: code })); });
      document.body.appendChild(list);
    }
    var input = textInput(value, onChange, 'department');
    input.setAttribute('list', listId);
    return input;
  }

  function render(element) {
    panel.innerHTML = '';
    if (!element) {
      panel.appendChild(el('p', { 'class': 'text-body-secondary small mb-0', text: '—' }));
      return;
    }
    var modeling = modeler.get('modeling');
    var bo = element.businessObject;
    var type = bo.$type;
    panel.dataset.elementId = bo.id;
    panel.appendChild(el('div', { 'class': 'small text-body-secondary mb-2', text: type.replace('bpmn:', '') }));
    panel.appendChild(field(t.id, textInput(bo.id, function (v) {
      if (v) { modeling.updateProperties(element, { id: v.trim() }); }
    }, 'id')));
    if (type === 'bpmn:Participant' && bo.processRef) {
      panel.appendChild(field(t.process_id, textInput(bo.processRef.id, function (v) {
        if (v) { bo.processRef.id = v.trim(); modeling.updateProperties(element, {}); }
      }, 'process_id')));
    }
    var nameLabel = type === 'bpmn:Lane' ? t.lane : t.name;
    panel.appendChild(field(nameLabel, textInput(bo.name, function (v) {
      modeling.updateLabel(element, v);
    }, 'name')));
    if (type === 'bpmn:UserTask' || type === 'bpmn:ManualTask') {
      var set = function (name) { return function (v) { setProperty(element, name, v); }; };
      panel.appendChild(field(t.form, selectInput(getProperty(bo, 'formKey'), config.forms, set('formKey'), 'formKey')));
      panel.appendChild(field(t.department, departmentInput(getProperty(bo, 'department'), set('department')),
        t.department_help));
      panel.appendChild(field(t.due, textInput(getProperty(bo, 'dueAt'), set('dueAt'), 'dueAt')));
      panel.appendChild(field(t.name_en, textInput(getProperty(bo, 'nameEn'), set('nameEn'), 'nameEn')));
      panel.appendChild(field(t.assignee, textInput(getProperty(bo, 'assignee'), set('assignee'), 'assignee')));
      panel.appendChild(field(t.stage, textInput(getProperty(bo, 'stage'), set('stage'), 'stage')));
    }
    if (type === 'bpmn:ScriptTask') {
      panel.appendChild(field(t.script, textInput(bo.script, function (v) {
        modeling.updateProperties(element, { scriptFormat: bo.scriptFormat || 'python', script: v });
      }, 'script', true)));
    }
    if (type === 'bpmn:SequenceFlow') {
      var cond = bo.conditionExpression ? bo.conditionExpression.body : '';
      panel.appendChild(field(t.condition, textInput(cond, function (v) {
        var expr = v ? modeler.get('moddle').create('bpmn:FormalExpression', { body: v }) : undefined;
        modeling.updateProperties(element, { conditionExpression: expr });
      }, 'condition')));
    }
    var timer = (bo.eventDefinitions || []).filter(function (d) { return d.$type === 'bpmn:TimerEventDefinition'; })[0];
    if (timer) {
      var kind = timer.timeDuration ? 'timeDuration' : (timer.timeCycle ? 'timeCycle' : 'timeDate');
      var current = timer[kind] ? timer[kind].body : '';
      panel.appendChild(field(t.timer + ' (' + kind + ')', textInput(current, function (v) {
        timer[kind] = modeler.get('moddle').create('bpmn:FormalExpression', { body: v });
        modeling.updateProperties(element, {});
      }, 'timer')));
    }
  }

  modeler.on('selection.changed', function (event) { render(event.newSelection[0] || null); });
  modeler.on('element.changed', function (event) {
    var selected = modeler.get('selection').get()[0];
    if (selected && event.element === selected && !panel.contains(document.activeElement)) { render(selected); }
  });

  // ------------------------------------------------------------------ problems on the diagram

  function showProblems(problems) {
    var overlays = modeler.get('overlays');
    var canvas = modeler.get('canvas');
    var registry = modeler.get('elementRegistry');
    overlays.remove({ type: 'problem' });
    registry.getAll().forEach(function (e) { canvas.removeMarker(e.id, 'dz-problem'); });
    problemList.innerHTML = '';
    if (!problems.length) {
      problemList.appendChild(el('li', { 'class': 'list-group-item text-success', text: t.valid }));
      return;
    }
    var counts = {};
    problems.forEach(function (p) {
      var item = el('li', { 'class': 'list-group-item small text-danger', text: p.text || p.message });
      if (p.element_id) { item.dataset.elementId = p.element_id; }
      problemList.appendChild(item);
      if (p.element_id && registry.get(p.element_id)) {
        canvas.addMarker(p.element_id, 'dz-problem');
        counts[p.element_id] = (counts[p.element_id] || []).concat([p.message]);
        item.addEventListener('click', function () {
          modeler.get('selection').select(registry.get(p.element_id));
        });
      }
    });
    Object.keys(counts).forEach(function (id) {
      overlays.add(id, 'problem', {
        position: { top: -12, right: 12 },
        html: el('div', { 'class': 'dz-problem-badge', title: counts[id].join('\n'),
          'data-problem-for': id, text: '! ' + counts[id].length })
      });
    });
  }

  // ------------------------------------------------------------------ actions

  function xml() {
    return modeler.saveXML({ format: true }).then(function (result) { return result.xml; });
  }

  function post(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf, 'Accept': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return { message: t.failed }; }).then(function (data) {
        data.status = response.status;
        return data;
      });
    });
  }

  function save() {
    return xml().then(function (text) {
      try { window.localStorage.setItem(draftKey, text); } catch (e) { /* storage full or disabled */ }
      return post(config.urls.validate, { filename: filename, xml: text });
    }).then(function (data) {
      showProblems(data.problems || []);
      if (data.status !== 200) { status('danger', data.message || t.failed); } else if (data.ok) {
        status('success', t.saved);
      } else { status('warning', t.problems); }
      return data;
    });
  }

  function deploy(confirmed) {
    status('info', t.deploying);
    return xml().then(function (text) {
      return post(config.urls.deploy, { filename: filename, xml: text, confirm: confirmed === true });
    }).then(function (data) {
      if (data.status === 409 && data.confirm) {
        // The process id belongs to an unrelated deployed process: deploy only if the designer says so.
        var keys = (data.processes || []).map(function (p) { return p.key + ' v' + p.live_version; }).join(', ');
        if (window.confirm(data.message + '\n\n' + keys)) { return deploy(true); }
        status('warning', data.message);
        return data;
      }
      showProblems(data.problems || []);
      if (data.status === 201 || data.status === 200) {
        status(data.created ? 'success' : 'info', data.message);
        statusBox.appendChild(el('a', { href: config.urls.index, 'class': 'ms-2', text: '→' }));
      } else {
        status('danger', data.message || t.failed);
      }
      return data;
    });
  }

  function download() {
    xml().then(function (text) {
      var link = el('a', { download: filename });
      link.href = URL.createObjectURL(new Blob([text], { type: 'application/xml' }));
      document.body.appendChild(link);
      link.click();
      link.remove();
    });
  }

  // SpiffWorkflow names process variables where BPMN expects references (a multi-instance's
  // loopDataInputRef, data associations): moddle drops such unresolved references on import,
  // so they are put back as placeholders that export their id unchanged.
  function keepUnresolvedReferences(warnings) {
    var moddle = modeler.get('moddle');
    (warnings || []).forEach(function (w) {
      if (!w.element || !w.property || !w.value || w.message.indexOf('unresolved reference') !== 0) { return; }
      var descriptor = w.element.$descriptor && w.element.$descriptor.propertiesByName[w.property];
      if (!descriptor) { return; }
      var placeholder = moddle.create('bpmn:DataInput', { id: w.value });
      if (descriptor.isMany) { w.element.get(descriptor.name).push(placeholder); } else {
        w.element.set(descriptor.name, placeholder);
      }
    });
  }

  function open(text) {
    return modeler.importXML(text).then(function (result) {
      keepUnresolvedReferences(result.warnings);
      modeler.get('canvas').zoom('fit-viewport');
      document.getElementById('canvas').dataset.ready = 'true';
      var other = (result.warnings || []).filter(function (w) { return w.message.indexOf('unresolved reference') !== 0; });
      if (other.length) { status('warning', other[0].message); }
    }).catch(function (err) {
      document.getElementById('canvas').dataset.ready = 'error';
      status('danger', (err && err.message) || t.no_diagram);
    });
  }

  document.querySelector('[data-action=save]').addEventListener('click', save);
  document.querySelector('[data-action=deploy]').addEventListener('click', function () { deploy(); });
  document.querySelector('[data-action=download]').addEventListener('click', download);
  document.querySelector('[data-action=open-file]').addEventListener('change', function (event) {
    var file = event.target.files[0];
    if (!file) { return; }
    filename = file.name;
    var reader = new FileReader();
    reader.onload = function () { open(String(reader.result)); };
    reader.readAsText(file);
  });

  window.designer = { save: save, deploy: deploy, xml: xml, setProperty: setProperty, open: open };
  open(config.xml).then(function () {
    var registry = modeler.get('elementRegistry');
    var hasShapes = registry.getAll().some(function (e) { return e.type !== 'bpmn:Process' && e.type !== 'bpmn:Collaboration'; });
    if (!hasShapes) { status('warning', t.no_diagram); }
  });
})();
