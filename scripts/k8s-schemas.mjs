// Converts Kubernetes' OpenAPI v2 document (api/openapi-spec/swagger.json in the
// k8s.io/kubernetes Go module) into JSON schemas in kubeconform's layout, one file per
// kind and API version, named `{{ .ResourceKind }}{{ .KindSuffix }}.json` (deployment-apps-v1.json,
// service-v1.json), as the schemas kubeconform fetches by default, which cannot be reached here.
// Each file holds the kind's schema and every definition it refers to. Strict, as
// kubeconform's `-strict` schemas: a field no schema names is an error (additionalProperties:
// false). IntOrString and Quantity accept what YAML makes of them (a number or a string).
//   node scripts/k8s-schemas.mjs swagger.json OUT_DIR
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [swaggerPath, outDir] = process.argv.slice(2);
if (!swaggerPath || !outDir) {
  process.stderr.write('usage: node scripts/k8s-schemas.mjs swagger.json OUT_DIR\n');
  process.exit(2);
}
const definitions = JSON.parse(readFileSync(swaggerPath, 'utf8')).definitions;
const REF = '#/definitions/';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';

function transform(node, name) {
  if (Array.isArray(node)) return node.map((n) => transform(n));
  if (node === null || typeof node !== 'object') return node;
  if (node.format === 'int-or-string') return { description: node.description, oneOf: [{ type: 'string' }, { type: 'integer' }] };
  if (name === QUANTITY) return { description: node.description, oneOf: [{ type: 'string' }, { type: 'number' }] };
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, transform(s)])) : transform(v);
  if (out.properties && !('additionalProperties' in out) && !out['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
  return out;
}

function refsOf(node, found) {
  if (Array.isArray(node)) node.forEach((n) => refsOf(n, found));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith(REF)) found.add(v.slice(REF.length));
      else refsOf(v, found);
    }
  }
}

/** The definitions `name` refers to, directly or not. */
function closure(name) {
  const seen = new Set();
  const todo = [name];
  while (todo.length) {
    const next = todo.pop();
    if (seen.has(next)) continue;
    seen.add(next);
    const refs = new Set();
    refsOf(definitions[next], refs);
    todo.push(...refs);
  }
  seen.delete(name);
  return [...seen].sort();
}

mkdirSync(outDir, { recursive: true });
let count = 0;
for (const [name, def] of Object.entries(definitions)) {
  for (const gvk of def['x-kubernetes-group-version-kind'] ?? []) {
    const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
    // kubeconform's KindSuffix (pkg/registry/registry.go): first label of the group (or the
    // version for the core group), then the version.
    const [groupPart, versionPart] = apiVersion.split('/');
    const suffix = `-${groupPart.split('.')[0].toLowerCase()}${versionPart ? `-${versionPart.toLowerCase()}` : ''}`;
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      ...transform(def, name),
      definitions: Object.fromEntries(closure(name).map((d) => [d, transform(definitions[d], d)])),
    };
    writeFileSync(join(outDir, `${gvk.kind.toLowerCase()}${suffix}.json`), JSON.stringify(schema));
    count++;
  }
}
process.stdout.write(`${count} schemas written to ${outDir}\n`);
