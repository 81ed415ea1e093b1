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

  var lint = window.DesignerLint;  // bpmnlint + the app's rules + auto layout (vendor/designer/lint-layout.js)
  var lintContext = { forms: config.forms, departments: config.department_names, messages: t.lint || {} };
  var modeler = new window.BpmnJS({
    container: '#canvas',
    additionalModules: lint ? [lint.lintModule] : [],
    linting: lint ? { active: true, bpmnlint: lint.config(lintContext) } : undefined,
    moddleExtensions: { spiffworkflow: window.SpiffworkflowModdle }
  });
  window.designerModeler = modeler;  // for tests and the console
  var rawXml = null;  // the file as opened, when bpmn-js could not read it: still validated and deployed

  var USER_TASK_PROPS = ['formKey', 'department', 'dueAt', 'nameEn', 'assignee', 'stage', 'performer', 'approval',
    'submittedBy'];

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

  function selectInput(value, options, onChange, name, labels) {
    var select = el('select', { 'class': 'form-select form-select-sm', name: name });
    select.appendChild(el('option', { value: '', text: t.none }));
    var values = options.slice();
    if (value && values.indexOf(value) < 0) { values.push(value); }
    values.forEach(function (option) {
      // a form is shown by its title in the user's language, its key beside it
      var label = labels && labels[option] ? labels[option] + ' (' + option + ')' : option;
      select.appendChild(el('option', { value: option, text: label }));
    });
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

  function checkbox(label, checked, onChange, name) {
    var id = 'chk-' + Math.random().toString(36).slice(2);
    var input = el('input', { type: 'checkbox', 'class': 'form-check-input', id: id, name: name });
    input.checked = !!checked;
    input.addEventListener('change', function () { onChange(input.checked); });
    return el('div', { 'class': 'form-check mb-2' }, [input, el('label', { 'class': 'form-check-label', 'for': id, text: label })]);
  }

  function listInput(value, options, onChange, name) {
    var listId = 'list-' + name;
    var old = document.getElementById(listId);
    if (old) { old.remove(); }
    var list = el('datalist', { id: listId });
    options.forEach(function (option) { list.appendChild(el('option', { value: option })); });
    document.body.appendChild(list);
    var input = textInput(value, onChange, name);
    input.setAttribute('list', listId);
    return input;
  }

  function definitions() { return modeler.getDefinitions(); }

  // The executable flag and id of each process: shown when nothing is selected (and for a pool).
  function processFields(element, process) {
    var modeling = modeler.get('modeling');
    panel.appendChild(el('div', { 'class': 'small text-body-secondary mb-2', text: t.process + ' ' + process.id }));
    panel.appendChild(checkbox(t.executable, process.isExecutable, function (checked) {
      modeling.updateModdleProperties(element, process, { isExecutable: checked });
    }, 'isExecutable'));
  }

  function renderRoot() {
    var root = modeler.get('canvas').getRootElement();
    if (!root || !root.businessObject) {
      panel.appendChild(el('p', { 'class': 'text-body-secondary small mb-0', text: '—' }));
      return;
    }
    var bo = root.businessObject;
    if (bo.$type === 'bpmn:Process') {
      processFields(root, bo);
    } else {
      modeler.get('elementRegistry').filter(function (e) { return e.type === 'bpmn:Participant'; })
        .forEach(function (p) { if (p.businessObject.processRef) { processFields(p, p.businessObject.processRef); } });
    }
    panel.appendChild(el('p', { 'class': 'text-body-secondary small mb-0', text: t.select_element }));
  }

  var REFS = {
    'bpmn:MessageEventDefinition': ['messageRef', 'bpmn:Message', 'message_name'],
    'bpmn:SignalEventDefinition': ['signalRef', 'bpmn:Signal', 'signal_name'],
    'bpmn:ErrorEventDefinition': ['errorRef', 'bpmn:Error', 'error_name'],
    'bpmn:EscalationEventDefinition': ['escalationRef', 'bpmn:Escalation', 'escalation_name']
  };

  // The message, signal, error or escalation an event (or send/receive task) refers to, by name:
  // a name not defined yet creates the root element.
  function refField(element, owner, property, rootType, label) {
    var modeling = modeler.get('modeling');
    var roots = definitions().get('rootElements');
    var names = roots.filter(function (r) { return r.$type === rootType && r.name; }).map(function (r) { return r.name; });
    var current = owner[property] ? (owner[property].name || owner[property].id) : '';
    panel.appendChild(field(t[label], listInput(current, names, function (v) {
      var name = v.trim();
      var target = roots.filter(function (r) { return r.$type === rootType && r.name === name; })[0];
      if (name && !target) {
        target = modeler.get('moddle').create(rootType, {
          id: rootType.replace('bpmn:', '') + '_' + Math.random().toString(36).slice(2, 9), name: name });
        target.$parent = definitions();
        roots.push(target);
      }
      var props = {};
      props[property] = target || undefined;
      modeling.updateModdleProperties(element, owner, props);
    }, label)));
  }

  function multiInstanceFields(element, loop) {
    var modeling = modeler.get('modeling');
    var moddle = modeler.get('moddle');
    panel.appendChild(el('div', { 'class': 'small fw-semibold mt-2 mb-1', text: t.multi_instance }));
    panel.appendChild(checkbox(t.sequential, loop.isSequential, function (checked) {
      modeling.updateModdleProperties(element, loop, { isSequential: checked });
    }, 'isSequential'));
    var cardinality = loop.loopCardinality ? loop.loopCardinality.body : '';
    panel.appendChild(field(t.cardinality, textInput(cardinality, function (v) {
      modeling.updateModdleProperties(element, loop,
        { loopCardinality: v ? moddle.create('bpmn:FormalExpression', { body: v }) : undefined });
    }, 'loopCardinality')));
    var collection = loop.loopDataInputRef ? loop.loopDataInputRef.id : '';
    panel.appendChild(field(t.collection, textInput(collection, function (v) {
      // SpiffWorkflow names a process variable here: a placeholder exports the name as the reference.
      modeling.updateModdleProperties(element, loop,
        { loopDataInputRef: v ? moddle.create('bpmn:DataInput', { id: v.trim() }) : undefined });
    }, 'loopDataInputRef'), t.collection_help));
    var item = loop.inputDataItem ? (loop.inputDataItem.name || loop.inputDataItem.id) : '';
    panel.appendChild(field(t.element_variable, textInput(item, function (v) {
      modeling.updateModdleProperties(element, loop,
        { inputDataItem: v ? moddle.create('bpmn:DataInput', { id: v.trim(), name: v.trim() }) : undefined });
    }, 'inputDataItem')));
  }

  var TIMER_KINDS = ['timeDate', 'timeDuration', 'timeCycle'];

  function timerFields(element, timer) {
    var modeling = modeler.get('modeling');
    var moddle = modeler.get('moddle');
    var kind = TIMER_KINDS.filter(function (k) { return timer[k]; })[0] || 'timeDuration';
    var select = el('select', { 'class': 'form-select form-select-sm', name: 'timerType' });
    TIMER_KINDS.forEach(function (k) { select.appendChild(el('option', { value: k, text: t[k] })); });
    select.value = kind;
    var current = timer[kind] ? timer[kind].body : '';
    var expression = textInput(current, function () { save_(); }, 'timer');
    function save_() {
      var props = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
      props[select.value] = moddle.create('bpmn:FormalExpression', { body: expression.value.trim() });
      modeling.updateModdleProperties(element, timer, props);
    }
    select.addEventListener('change', save_);
    panel.appendChild(field(t.timer_type, select));
    panel.appendChild(field(t.timer, expression, t.timer_help));
  }

  function render(element) {
    panel.innerHTML = '';
    if (!element) {
      renderRoot();
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
      panel.appendChild(checkbox(t.executable, bo.processRef.isExecutable, function (checked) {
        modeling.updateModdleProperties(element, bo.processRef, { isExecutable: checked });
      }, 'isExecutable'));
    }
    var nameLabel = type === 'bpmn:Lane' ? t.lane : t.name;
    panel.appendChild(field(nameLabel, textInput(bo.name, function (v) {
      modeling.updateLabel(element, v);
    }, 'name')));
    if (type === 'bpmn:UserTask' || type === 'bpmn:ManualTask' || type === 'bpmn:Task') {
      var set = function (name) { return function (v) { setProperty(element, name, v); }; };
      panel.appendChild(field(t.form, selectInput(getProperty(bo, 'formKey'), config.forms, set('formKey'), 'formKey',
                                                config.form_titles)));
      panel.appendChild(field(t.department, departmentInput(getProperty(bo, 'department'), set('department')),
        t.department_help));
      panel.appendChild(field(t.due, textInput(getProperty(bo, 'dueAt'), set('dueAt'), 'dueAt')));
      panel.appendChild(field(t.name_en, textInput(getProperty(bo, 'nameEn'), set('nameEn'), 'nameEn')));
      panel.appendChild(field(t.assignee, textInput(getProperty(bo, 'assignee'), set('assignee'), 'assignee')));
      panel.appendChild(field(t.stage, textInput(getProperty(bo, 'stage'), set('stage'), 'stage')));
      panel.appendChild(field(t.performer, textInput(getProperty(bo, 'performer'), set('performer'), 'performer'),
        t.performer_help));
      panel.appendChild(field(t.approval, selectInput(getProperty(bo, 'approval'), config.approvals || [],
        set('approval'), 'approval')));
      panel.appendChild(field(t.submitted_by, textInput(getProperty(bo, 'submittedBy'), set('submittedBy'),
        'submittedBy'), t.submitted_by_help));
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
    if (type === 'bpmn:CallActivity') {
      panel.appendChild(field(t.called_element, listInput(bo.calledElement || '', config.processes || [],
        function (v) { modeling.updateProperties(element, { calledElement: v.trim() || undefined }); },
        'calledElement')));
    }
    if (type === 'bpmn:SendTask' || type === 'bpmn:ReceiveTask') {
      refField(element, bo, 'messageRef', 'bpmn:Message', 'message_name');
    }
    (bo.eventDefinitions || []).forEach(function (definition) {
      var ref = REFS[definition.$type];
      if (ref) { refField(element, definition, ref[0], ref[1], ref[2]); }
      if (definition.$type === 'bpmn:TimerEventDefinition') { timerFields(element, definition); }
    });
    if (bo.loopCharacteristics && bo.loopCharacteristics.$type === 'bpmn:MultiInstanceLoopCharacteristics') {
      multiInstanceFields(element, bo.loopCharacteristics);
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
    if (rawXml !== null) { return Promise.resolve(rawXml); }
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

  function showDeployed(definitions) {
    // The heading names the version now live (v2 after deploying over v1), and the address is its own.
    var heading = document.querySelector('[data-testid=modeler-title]');
    if (!heading || !definitions.length) { return; }
    var shownKey = heading.textContent.trim().split(' v')[0];
    var current = definitions.filter(function (d) { return d.key === shownKey; })[0] || definitions[0];
    heading.textContent = current.key + ' v' + current.version;
    config.definition_id = current.id;
    if (current.url && window.history && window.history.replaceState) {
      window.history.replaceState(null, '', current.url);
    }
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
        showDeployed(data.definitions || []);
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

  // Flow nodes of the semantic model that have no shape (no diagram layout for them).
  function unlaidNodes() {
    var registry = modeler.get('elementRegistry');
    var missing = [];
    function walk(elements) {
      (elements || []).forEach(function (e) {
        if (/^bpmn:(.*Task|Task|.*Event|.*Gateway|SubProcess|CallActivity|Transaction|AdHocSubProcess)$/.test(e.$type) &&
            !registry.get(e.id)) { missing.push(e.id); }
        if (e.flowElements) { walk(e.flowElements); }
      });
    }
    (definitions().get('rootElements') || []).forEach(function (r) {
      if (r.$type === 'bpmn:Process') { walk(r.flowElements); }
    });
    return missing;
  }

  // Hand-written and exported files often omit a node's <incoming>/<outgoing>, which BPMN
  // derives from the flows' sourceRef/targetRef: put them back so lint (and the export) see them.
  function repairFlowReferences() {
    var changed = false;
    modeler.get('elementRegistry').filter(function (e) { return e.type === 'bpmn:SequenceFlow'; }).forEach(function (e) {
      var flow = e.businessObject;
      [[flow.sourceRef, 'outgoing'], [flow.targetRef, 'incoming']].forEach(function (pair) {
        var node = pair[0];
        if (node && node.get && node.get(pair[1]).indexOf(flow) < 0) { node.get(pair[1]).push(flow); changed = true; }
      });
    });
    if (changed && lint && modeler.get('linting').isActive()) { modeler.get('linting').update(); }
  }

  // The same repair on the XML text, before the layout (which follows <outgoing> to place nodes).
  function withFlowReferences(text) {
    var moddle = modeler.get('moddle');
    return moddle.fromXML(text, 'bpmn:Definitions').then(function (parsed) {
      function walk(elements) {
        (elements || []).forEach(function (flow) {
          if (flow.$type === 'bpmn:SequenceFlow') {
            [[flow.sourceRef, 'outgoing'], [flow.targetRef, 'incoming']].forEach(function (pair) {
              if (pair[0] && pair[0].get(pair[1]).indexOf(flow) < 0) { pair[0].get(pair[1]).push(flow); }
            });
          }
          if (flow.flowElements) { walk(flow.flowElements); }
        });
      }
      (parsed.rootElement.get('rootElements') || []).forEach(function (root) { walk(root.flowElements); });
      return moddle.toXML(parsed.rootElement).then(function (out) { return out.xml; });
    });
  }

  function importText(text) {
    return modeler.importXML(text).then(function (result) {
      keepUnresolvedReferences(result.warnings);
      repairFlowReferences();
      return result;
    });
  }

  function open(text) {
    rawXml = null;
    var notes = [];
    // No diagram layout (or only part of it): lay the process out, keeping its content.
    function laidOut() {
      if (!lint || !lint.layoutProcess) { return Promise.reject(new Error(t.no_layout_unavailable)); }
      return withFlowReferences(text).then(lint.layoutProcess).then(function (laid) {
        notes.push(['info', t.laid_out]);
        return importText(laid);
      });
    }
    return importText(text).catch(function (err) {
      // bpmn-js refuses a file without any diagram ("no diagram to display"): try the layout.
      return laidOut().catch(function (layoutError) {
        throw new Error(((err && err.message) || '') + ' / ' + ((layoutError && layoutError.message) || ''));
      });
    }).then(function (result) {
      if (!unlaidNodes().length) { return result; }
      return laidOut().catch(function (err) {
        notes.push(['warning', t.layout_failed + ' ' + ((err && err.message) || '')]);
        return result;
      });
    }).then(function (result) {
      var canvas = modeler.get('canvas');
      canvas.zoom('fit-viewport');
      canvas.scroll({ dx: 90, dy: 0 });  // keep the palette from covering the first elements
      document.getElementById('canvas').dataset.ready = 'true';
      var other = (result.warnings || []).filter(function (w) { return w.message.indexOf('unresolved reference') !== 0; });
      if (other.length) { notes.push(['warning', t.import_warnings + ' ' + other[0].message]); }
      if (notes.length) { status(notes[0][0], notes.map(function (n) { return n[1]; }).join(' ')); }
      camundaHints();
      render(null);
    }).catch(function (err) {
      rawXml = text;  // Save and Deploy still validate the file as it is, and name its problems
      document.getElementById('canvas').dataset.ready = 'error';
      status('danger', t.cannot_display + ' ' + ((err && err.message) || ''));
    });
  }

  // Camunda extension attributes with an equivalent here: offer to convert them.
  var CAMUNDA = { formKey: 'formKey', assignee: 'assignee', candidateGroups: 'department' };

  function camundaAttrs(bo) {
    var found = {};
    Object.keys(bo.$attrs || {}).forEach(function (name) {
      var parts = name.split(':');
      if (parts.length === 2 && parts[0].indexOf('camunda') === 0 && CAMUNDA[parts[1]]) {
        found[parts[1]] = bo.$attrs[name];
      }
    });
    return found;
  }

  function conversions() {
    var known = (config.department_names || []).map(function (d) { return d.toLowerCase(); });
    var list = [];
    modeler.get('elementRegistry').filter(function (e) { return e.type === 'bpmn:UserTask'; }).forEach(function (e) {
      var attrs = camundaAttrs(e.businessObject);
      Object.keys(attrs).forEach(function (attr) {
        var value = String(attrs[attr] || '').trim();
        if (attr === 'candidateGroups') {
          value = value.split(',').map(function (g) { return g.trim(); })
            .filter(function (g) { return known.indexOf(g.toLowerCase()) >= 0; })[0] || '';
        }
        if (attr === 'assignee' && value.indexOf('${') === 0) { value = ''; }  // a Java expression
        if (value && !getProperty(e.businessObject, CAMUNDA[attr])) {
          list.push({ element: e, property: CAMUNDA[attr], value: value, from: 'camunda:' + attr });
        }
      });
    });
    return list;
  }

  function camundaHints() {
    var box = document.getElementById('designer-hints');
    box.innerHTML = '';
    var list = conversions();
    box.classList.toggle('d-none', !list.length);
    if (!list.length) { return; }
    var items = el('ul', { 'class': 'small mb-2' }, list.map(function (c) {
      return el('li', { text: c.element.id + ': ' + c.from + ' "' + c.value + '" → ' + c.property });
    }));
    var button = el('button', { type: 'button', 'class': 'btn btn-sm btn-warning', 'data-testid': 'convert-camunda',
      text: t.convert });
    button.addEventListener('click', function () {
      conversions().forEach(function (c) { setProperty(c.element, c.property, c.value); });
      camundaHints();
      status('success', t.converted);
    });
    box.appendChild(el('div', { 'class': 'fw-semibold small mb-1', text: t.camunda_found }));
    box.appendChild(items);
    box.appendChild(button);
  }

  // ------------------------------------------------------------------ test run

  var runBox = document.getElementById('test-run');
  var runXml = null;   // the diagram as it was when the run started: every step uses the same one
  var runAnswer = null;

  function clearRunMarkers() {
    var canvas = modeler.get('canvas');
    modeler.get('elementRegistry').getAll().forEach(function (e) {
      ['dz-completed', 'dz-active', 'dz-waiting'].forEach(function (m) { canvas.removeMarker(e.id, m); });
    });
  }

  function markRun(answer) {
    clearRunMarkers();
    var canvas = modeler.get('canvas');
    var registry = modeler.get('elementRegistry');
    [['completed', 'dz-completed'], ['waiting', 'dz-waiting'], ['active', 'dz-active']].forEach(function (pair) {
      (answer[pair[0]] || []).forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, pair[1]); } });
    });
  }

  function jsonArea(value, name) {
    var area = el('textarea', { 'class': 'form-control form-control-sm font-monospace', rows: '4', name: name });
    area.value = JSON.stringify(value || {}, null, 2);
    return area;
  }

  function parsed(area) {
    try { return JSON.parse(area.value || '{}'); } catch (e) { status('danger', t.bad_json); return null; }
  }

  function runRequest(url, extra) {
    var body = Object.assign({ filename: filename, xml: runXml }, extra);
    return post(url, body).then(function (answer) {
      if (!answer.ok) {
        if (answer.problems) { showProblems(answer.problems); }
        status('danger', answer.message || t.failed);
        return answer;
      }
      runAnswer = answer;
      markRun(answer);
      renderRun(answer);
      return answer;
    });
  }

  function startRun() {
    var startData = document.querySelector('[data-testid=test-run-data]');
    var data = startData ? parsed(startData) : {};
    if (data === null) { return Promise.resolve(null); }
    return xml().then(function (text) {
      runXml = text;
      runBox.classList.remove('d-none');
      return runRequest(config.urls.test_run, { data: data });
    });
  }

  function renderRun(answer) {
    var body = runBox.querySelector('.card-body');
    body.innerHTML = '';
    var labels = { running: t.run_running, completed: t.run_completed, stopped: t.run_stopped };
    body.appendChild(el('div', { 'class': 'mb-2', 'data-testid': 'test-run-status', 'data-status': answer.outcome },
      [el('strong', { text: labels[answer.outcome] || answer.outcome }),
       el('span', { 'class': 'ms-2 text-body-secondary small', text: answer.message || '' })]));
    answer.tasks.forEach(function (task) {
      var fields = ((task.form && task.form.fields) || []).map(function (f) {
        return f.name + (f.required ? '*' : '') + ' — ' + f.label;
      }).join('; ');
      var area = jsonArea(task.sample, 'task-data');
      var button = el('button', { type: 'button', 'class': 'btn btn-sm btn-primary mt-1',
        'data-testid': 'test-run-complete', 'data-element-id': task.element, text: t.run_complete });
      button.addEventListener('click', function () {
        var data = parsed(area);
        if (data !== null) {
          runRequest(config.urls.test_run_complete, { token: answer.token, task_id: task.id, data: data });
        }
      });
      body.appendChild(el('div', { 'class': 'border rounded p-2 mb-2', 'data-testid': 'test-run-task' }, [
        el('div', { 'class': 'fw-semibold', text: task.title + ' (' + task.element + ')' }),
        el('div', { 'class': 'small text-body-secondary', text: t.department + ': ' + (task.department || '—') +
          ' · ' + t.form + ': ' + (task.form_key || '—') }),
        el('div', { 'class': 'small mb-1', text: fields }),
        area, button
      ]));
    });
    if (answer.timers) {
      var timers = el('button', { type: 'button', 'class': 'btn btn-sm btn-outline-warning me-2',
        'data-testid': 'test-run-timers', text: t.run_timers });
      timers.addEventListener('click', function () {
        runRequest(config.urls.test_run_timers, { token: answer.token });
      });
      body.appendChild(timers);
    }
    if (answer.thrown && answer.thrown.length) {
      body.appendChild(el('div', { 'class': 'small text-body-secondary mt-2', text: t.run_thrown + ' ' +
        answer.thrown.join(', ') }));
    }
    body.appendChild(el('div', { 'class': 'small fw-semibold mt-2', text: t.run_data }));
    body.appendChild(el('pre', { 'class': 'small bg-body-tertiary p-2 mb-0', 'data-testid': 'test-run-process-data',
      text: JSON.stringify(answer.data, null, 2) }));
  }

  function showRunStart() {
    runBox.classList.remove('d-none');
    var body = runBox.querySelector('.card-body');
    body.innerHTML = '';
    body.appendChild(el('div', { 'class': 'small mb-1', text: t.run_start_data }));
    body.appendChild(jsonArea({}, 'start-data'));
    body.lastChild.setAttribute('data-testid', 'test-run-data');
    var go = el('button', { type: 'button', 'class': 'btn btn-sm btn-primary mt-1', 'data-testid': 'test-run-start',
      text: t.run_start });
    go.addEventListener('click', startRun);
    body.appendChild(go);
  }

  document.querySelector('[data-action=test-run]').addEventListener('click', showRunStart);
  runBox.querySelector('[data-action=test-run-close]').addEventListener('click', function () {
    runBox.classList.add('d-none');
    clearRunMarkers();
    runAnswer = null;
  });

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

  window.designer = { save: save, deploy: deploy, xml: xml, setProperty: setProperty, open: open,
    testRun: function () { return runAnswer; } };
  open(config.xml);
})();
