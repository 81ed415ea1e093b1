/* Moddle extension for our extension elements:
   <bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="…" value="…"/></…></…> */
window.SpiffworkflowModdle = {
  name: 'SpiffWorkflow',
  prefix: 'spiffworkflow',
  uri: 'http://spiffworkflow.org/bpmn/schema/1.0/core',
  xml: { tagAlias: 'lowerCase' },
  associations: [],
  types: [
    {
      name: 'Properties',
      superClass: ['Element'],
      meta: { allowedIn: ['*'] },
      properties: [{ name: 'properties', type: 'Property', isMany: true }]
    },
    {
      name: 'Property',
      superClass: ['Element'],
      properties: [
        { name: 'name', type: 'String', isAttr: true },
        { name: 'value', type: 'String', isAttr: true }
      ]
    }
  ]
};
