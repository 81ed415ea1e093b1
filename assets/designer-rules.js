/* The app's own lint rules, the same checks deploy makes (so problems show on the elements while
   editing): every user task has a form that exists, every human task (user, manual or plain task)
   has a known department (property or lane), and only elements this application can run are used.
   Each export takes the designer's context ({forms, departments, messages}) and returns a bpmnlint
   rule factory. */
import { is } from 'bpmnlint-utils';

const PYTHON = ['', 'python', 'python3', 'py', 'text/python', 'text/x-python', 'application/x-python'];
const JAVA = ['class', 'delegateExpression', 'expression', 'type', 'topic'];

function properties(node) {
  const found = {};
  const values = (node.extensionElements && node.extensionElements.values) || [];
  values.forEach(function (value) {
    if (value.$type === 'spiffworkflow:Properties') {
      (value.properties || []).forEach(function (p) { found[p.name] = p.value || ''; });
    }
  });
  return found;
}

function isHuman(node) {
  return is(node, 'bpmn:UserTask') || is(node, 'bpmn:ManualTask') || node.$type === 'bpmn:Task';
}

function text(messages, key, value) {
  return (messages[key] || key).replace('{}', value === undefined ? '' : value);
}

function camundaAttributes(node, names) {
  const attrs = node.$attrs || {};
  return Object.keys(attrs).filter(function (name) {
    const parts = name.split(':');
    return parts.length === 2 && parts[0].indexOf('camunda') === 0 && names.indexOf(parts[1]) >= 0;
  });
}

function formExists(context) {
  return function () {
    return {
      check(node, reporter) {
        if (!isHuman(node)) { return; }
        const key = properties(node).formKey;
        if (!key) {
          if (is(node, 'bpmn:UserTask')) { reporter.report(node.id, text(context.messages, 'app:no-form')); }
        } else if ((context.forms || []).indexOf(key) < 0) {
          reporter.report(node.id, text(context.messages, 'app:unknown-form', key));
        }
      }
    };
  };
}

function departmentKnown(context) {
  const known = (context.departments || []).map(function (d) { return String(d).toLowerCase(); });
  return function () {
    function lanesOf(laneSets, map) {
      (laneSets || []).forEach(function (set) {
        (set.lanes || []).forEach(function (lane) {
          (lane.flowNodeRef || []).forEach(function (ref) { map[ref.id] = lane.name || ''; });
          if (lane.childLaneSet) { lanesOf([lane.childLaneSet], map); }
        });
      });
      return map;
    }
    function walk(elements, lanes, inherited, reporter) {
      (elements || []).forEach(function (node) {
        const lane = lanes[node.id] !== undefined ? lanes[node.id] : inherited;
        if (isHuman(node)) {
          const department = properties(node).department || '';
          if (department && department.charAt(0) !== '=') {
            if (known.indexOf(department.toLowerCase()) < 0) {
              reporter.report(node.id, text(context.messages, 'app:unknown-department', department));
            }
          } else if (!department && !lane) {
            reporter.report(node.id, text(context.messages, 'app:no-department'));
          } else if (!department && known.indexOf(lane.toLowerCase()) < 0) {
            reporter.report(node.id, text(context.messages, 'app:unknown-lane', lane));
          }
        }
        if (node.flowElements) { walk(node.flowElements, lanes, lane, reporter); }
      });
    }
    return {
      check(node, reporter) {
        if (is(node, 'bpmn:Process')) { walk(node.flowElements, lanesOf(node.laneSets, {}), '', reporter); }
      }
    };
  };
}

function supportedElement(context) {
  return function () {
    return {
      check(node, reporter) {
        const m = context.messages;
        const report = function (key, value) { reporter.report(node.id, text(m, key, value)); };
        const java = camundaAttributes(node, JAVA);
        if (is(node, 'bpmn:ServiceTask')) { return report('app:service-task'); }
        if (is(node, 'bpmn:BusinessRuleTask')) { return report('app:dmn'); }
        if (is(node, 'bpmn:ComplexGateway')) { return report('app:complex-gateway'); }
        if (is(node, 'bpmn:DataStoreReference')) { return report('app:data-store', node.name || node.id); }
        if (java.length && is(node, 'bpmn:Activity')) { return report('app:java', java.join(', ')); }
        if (node.isForCompensation || (node.eventDefinitions || []).some(function (d) {
          return is(d, 'bpmn:CompensateEventDefinition');
        })) { return report('app:compensation'); }
        if (is(node, 'bpmn:ScriptTask')) {
          const format = (node.scriptFormat || '').trim();
          if (camundaAttributes(node, ['resource']).length) { return report('app:script-resource'); }
          if (PYTHON.indexOf(format.toLowerCase()) < 0) { return report('app:script-format', format); }
        }
        if ((is(node, 'bpmn:SendTask') || is(node, 'bpmn:ReceiveTask')) && !node.messageRef) {
          return report(is(node, 'bpmn:SendTask') ? 'app:send-task' : 'app:receive-task');
        }
      }
    };
  };
}

export default {
  'form-exists': formExists,
  'department-known': departmentKnown,
  'supported-element': supportedElement
};
