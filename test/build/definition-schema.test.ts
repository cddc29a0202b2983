/**
 * The published JSON Schema is the zod schema's, up to date and with every
 * field explained; the example definitions are valid, complete (every field
 * of the schema) and one per engine; examples/README.md explains every field.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FIELD_DOCS,
  SCHEMA_FILE,
  definitionJsonSchema,
  schemaFieldPaths,
} from '../../src/build/definition-schema';
import { ENGINE_KINDS } from '../../src/shared/types';
import { supportsNodes } from '../../src/engines/topology';
import { parseCredentialDefinition } from '../../src/store/schema';
import { REPO_ROOT } from '../helpers/services';

const examplesDir = join(REPO_ROOT, 'examples', 'definitions');

/** Field paths present in a JSON value, in the schema's notation (`policy.windows[].days`). */
function pathsOf(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => pathsOf(v, `${path}[]`));
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const p = path ? `${path}.${k}` : k;
    // options, labels: free-form maps
    return path === '' && (k === 'options' || k === 'labels') ? [p] : [p, ...pathsOf(v, p)];
  });
}

describe('credential definition JSON Schema', () => {
  it('the checked-in schema is the generated one (run `npm run schema` after changing the zod schema)', () => {
    const checkedIn = JSON.parse(readFileSync(join(REPO_ROOT, SCHEMA_FILE), 'utf8')) as unknown;
    expect(checkedIn).toEqual(definitionJsonSchema());
  });

  it('every field has an explanation, and no explanation is for a field that is gone', () => {
    const fields = schemaFieldPaths();
    expect(fields).toContain('policy.windows[].timeZone');
    expect(Object.keys(FIELD_DOCS).sort()).toEqual([...fields].sort());
    const readme = readFileSync(join(REPO_ROOT, 'examples', 'README.md'), 'utf8');
    for (const f of fields) expect(readme, f).toContain(`| \`${f}\` |`);
  });

  const ADMIN_ONLY = ['allowedServers', 'allowedServers[].host', 'allowedServers[].port'];
  // Engines that take `nodes` (engines/topology.ts); the others refuse them.
  const NODES = ['nodes', 'nodes[].host', 'nodes[].port', 'nodeSyncTimeoutMs'];

  it('one complete, valid example per engine', () => {
    const files = readdirSync(examplesDir).filter((f) => f.endsWith('.json'));
    const fields = schemaFieldPaths();
    const engines = new Set<string>();
    for (const file of files) {
      const raw = JSON.parse(readFileSync(join(examplesDir, file), 'utf8')) as Record<string, unknown>;
      const def = parseCredentialDefinition(raw); // throws with the field path when invalid
      if (file.endsWith('-admin.json')) {
        expect(def.adminCredentialId).toBeUndefined();
        // The fields only an admin has are shown there.
        expect(pathsOf(raw)).toEqual(expect.arrayContaining(ADMIN_ONLY));
        continue;
      }
      engines.add(def.engine);
      expect(file).toBe(`${def.engine}.json`);
      const present = new Set(pathsOf(raw));
      expect(
        fields.filter(
          (f) =>
            !present.has(f) && !ADMIN_ONLY.includes(f) && !(NODES.includes(f) && !supportsNodes(def.engine)),
        ),
        `${file} lacks`,
      ).toEqual([]);
    }
    expect([...engines].sort()).toEqual([...ENGINE_KINDS].sort());
  });

  it('the JSON Schema rejects what zod rejects at the top level (strict objects)', () => {
    const schema = definitionJsonSchema() as { additionalProperties?: boolean; required?: string[] };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(expect.arrayContaining(['id', 'engine', 'host', 'port', 'baseUsername']));
  });
});
