/* The designer's lint and layout bundle (built by `make assets` with esbuild into
   app/static/vendor/designer/lint-layout.js): bpmnlint's rules with bpmn-js-bpmnlint, the app's own
   rules (form exists, department known, supported element), and bpmn-auto-layout for files that
   come without diagram layout. Exposed as window.DesignerLint. */
import lintModule from 'bpmn-js-bpmnlint';
import { layoutProcess } from 'bpmn-auto-layout';
import recommended from 'bpmnlint/config/recommended';
import appRules from './designer-rules.js';
import rule0 from 'bpmnlint/rules/ad-hoc-sub-process';
import rule1 from 'bpmnlint/rules/conditional-event';
import rule2 from 'bpmnlint/rules/conditional-flows';
import rule3 from 'bpmnlint/rules/end-event-required';
import rule4 from 'bpmnlint/rules/event-based-gateway';
import rule5 from 'bpmnlint/rules/event-sub-process-typed-start-event';
import rule6 from 'bpmnlint/rules/fake-join';
import rule7 from 'bpmnlint/rules/global';
import rule8 from 'bpmnlint/rules/label-required';
import rule9 from 'bpmnlint/rules/link-event';
import rule10 from 'bpmnlint/rules/no-bpmndi';
import rule11 from 'bpmnlint/rules/no-complex-gateway';
import rule12 from 'bpmnlint/rules/no-disconnected';
import rule13 from 'bpmnlint/rules/no-duplicate-sequence-flows';
import rule14 from 'bpmnlint/rules/no-gateway-join-fork';
import rule15 from 'bpmnlint/rules/no-implicit-end';
import rule16 from 'bpmnlint/rules/no-implicit-split';
import rule17 from 'bpmnlint/rules/no-implicit-start';
import rule18 from 'bpmnlint/rules/no-inclusive-gateway';
import rule19 from 'bpmnlint/rules/no-overlapping-elements';
import rule20 from 'bpmnlint/rules/single-blank-start-event';
import rule21 from 'bpmnlint/rules/single-event-definition';
import rule22 from 'bpmnlint/rules/standard-size';
import rule23 from 'bpmnlint/rules/start-event-required';
import rule24 from 'bpmnlint/rules/sub-process-blank-start-event';
import rule25 from 'bpmnlint/rules/superfluous-gateway';
import rule26 from 'bpmnlint/rules/superfluous-label';
import rule27 from 'bpmnlint/rules/superfluous-termination';

const BPMNLINT_RULES = {
  'ad-hoc-sub-process': rule0,
  'conditional-event': rule1,
  'conditional-flows': rule2,
  'end-event-required': rule3,
  'event-based-gateway': rule4,
  'event-sub-process-typed-start-event': rule5,
  'fake-join': rule6,
  'global': rule7,
  'label-required': rule8,
  'link-event': rule9,
  'no-bpmndi': rule10,
  'no-complex-gateway': rule11,
  'no-disconnected': rule12,
  'no-duplicate-sequence-flows': rule13,
  'no-gateway-join-fork': rule14,
  'no-implicit-end': rule15,
  'no-implicit-split': rule16,
  'no-implicit-start': rule17,
  'no-inclusive-gateway': rule18,
  'no-overlapping-elements': rule19,
  'single-blank-start-event': rule20,
  'single-event-definition': rule21,
  'standard-size': rule22,
  'start-event-required': rule23,
  'sub-process-blank-start-event': rule24,
  'superfluous-gateway': rule25,
  'superfluous-label': rule26,
  'superfluous-termination': rule27
};

// What this application runs differently from plain BPMN: inclusive gateways are supported,
// unnamed start and end events are common, link events are paired by our own rule.
const OVERRIDES = {
  'label-required': 'warn',
  'no-inclusive-gateway': 'off',
  'superfluous-gateway': 'off',
  'app/form-exists': 'error',
  'app/department-known': 'error',
  'app/supported-element': 'error'
};

/* Wrap a rule so that its messages are shown in the user's language (context.messages maps
   bpmnlint's English messages to translations; unknown ones stay as they are). */
function translated(factory, messages) {
  return function (ruleConfig) {
    const rule = factory(ruleConfig);
    return Object.assign({}, rule, {
      check(node, reporter) {
        const proxy = Object.create(reporter);
        proxy.report = function (id, message, path) {
          return reporter.report(id, messages[message] || message, path);
        };
        return rule.check(node, proxy);
      }
    });
  };
}

function config(context) {
  const messages = (context && context.messages) || {};
  const rules = Object.assign({}, recommended.rules, OVERRIDES);
  return {
    config: { rules },
    resolver: {
      resolveRule(pkg, ruleName) {
        const factory = pkg === 'bpmnlint-plugin-app' ? appRules[ruleName] : BPMNLINT_RULES[ruleName];
        if (!factory) { throw new Error('unknown rule ' + pkg + '/' + ruleName); }
        return translated(pkg === 'bpmnlint-plugin-app' ? factory(context) : factory, messages);
      },
      resolveConfig() { return null; }
    }
  };
}

window.DesignerLint = { lintModule, layoutProcess, config };
