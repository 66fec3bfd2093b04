// The layering of src/, checked on every import: src/ has one folder per part, and a folder
// may import from its own folder or a lower one, never from a higher one. That keeps each
// part usable and testable without the parts above it, and no cycle can form between parts.
// dev/ (the development IdP, not shipped) may use only src/util and src/config, and src/
// never imports dev/ by a path written in the code. docs/architecture.md#layers explains
// the order.
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

/** The folders of src/, highest first: the one definition of the order. */
export const LAYERS = [
  'cli',
  'toolchain',
  'main',
  'http',
  'pipeline',
  'audit',
  'policy',
  'upstreams',
  'sessions',
  'credentials',
  'identity',
  'mcp',
  'inspect',
  'telemetry',
  'config',
  'util',
];

/** The folders of src/ that dev/ may import from. */
export const DEV_MAY_IMPORT = ['util', 'config'];

const ORDER = LAYERS.join(' > ');
const DOC = 'docs/architecture.md#layers';

/**
 * Where a file is: `{ tree: 'src', folder }` (folder undefined for a file directly in src/),
 * `{ tree: 'dev' }`, or undefined outside both.
 */
function locate(root, file) {
  const parts = relative(root, file).split(sep);
  if (parts[0] === 'src') return { tree: 'src', folder: parts.length > 2 ? parts[1] : undefined };
  if (parts[0] === 'dev') return { tree: 'dev' };
  return undefined;
}

function display(root, file, where) {
  return where.folder === undefined
    ? relative(root, file).split(sep).join('/')
    : `src/${where.folder}`;
}

/** @type {import('eslint').Rule.RuleModule} */
const layersRule = {
  meta: {
    type: 'problem',
    docs: {
      description: 'Keeps the layering of src/ (and dev/ apart from the gateway), see ' + DOC,
    },
    // One option, required: the repository root, against which src/ and dev/ are found.
    schema: {
      type: 'array',
      items: [
        {
          type: 'object',
          properties: { root: { type: 'string' } },
          required: ['root'],
          additionalProperties: false,
        },
      ],
      minItems: 1,
      maxItems: 1,
    },
    messages: {
      upward:
        '{{importer}} may not import from {{target}} ({{specifier}}): {{target}} is a higher layer. ' +
        'A folder imports only from its own layer or a lower one; layers, highest first: ' +
        '{{order}}. Move what both need down, or pass it in from above ({{doc}}).',
      unplaced:
        '{{path}} has no place in the layer order ({{order}}): put the file in one of those ' +
        'folders, or add its folder to LAYERS in scripts/eslint/layers.js and to {{doc}}.',
      devImportsSrc:
        'dev/ may import from src/ only {{allowed}}, not {{target}} ({{specifier}}): the ' +
        'development IdP stays apart from the gateway ({{doc}}).',
      srcImportsDev:
        '{{importer}} may not import dev/ ({{specifier}}): dev/ is not in the package or the ' +
        'image. Load it at run time by a computed path, as src/cli/main.ts does ({{doc}}).',
    },
  },
  create(context) {
    const root = context.options[0].root;
    const file = context.filename;
    if (!isAbsolute(file)) return {};
    const here = locate(root, file);
    if (here === undefined) return {};
    const hereLayer = here.tree === 'src' ? LAYERS.indexOf(here.folder ?? '') : -1;

    /** Checks one module specifier written in the code (node: the string literal). */
    function check(node, specifier) {
      if (!specifier.startsWith('.') && !isAbsolute(specifier)) return; // a package
      const target = resolve(dirname(file), specifier);
      const there = locate(root, target);
      if (there === undefined) return;
      const data = { specifier: `'${specifier}'`, order: ORDER, doc: DOC };
      if (here.tree === 'dev') {
        if (there.tree === 'src' && !DEV_MAY_IMPORT.includes(there.folder ?? '')) {
          const allowed = DEV_MAY_IMPORT.map((f) => `src/${f}`).join(' and ');
          const shown = display(root, target, there);
          context.report({
            node,
            messageId: 'devImportsSrc',
            data: { ...data, allowed, target: shown },
          });
        }
        return;
      }
      const importer = display(root, file, here);
      if (there.tree === 'dev') {
        context.report({ node, messageId: 'srcImportsDev', data: { ...data, importer } });
        return;
      }
      const thereLayer = LAYERS.indexOf(there.folder ?? '');
      if (thereLayer === -1) {
        context.report({
          node,
          messageId: 'unplaced',
          data: { ...data, path: display(root, target, there) },
        });
      } else if (hereLayer !== -1 && thereLayer < hereLayer) {
        context.report({
          node,
          messageId: 'upward',
          data: { ...data, importer, target: `src/${there.folder}` },
        });
      }
    }

    /** A string written as-is: a literal, or a template without substitutions. */
    function literalText(node) {
      if (node?.type === 'Literal' && typeof node.value === 'string') return node.value;
      if (node?.type === 'TemplateLiteral' && node.expressions.length === 0) {
        return node.quasis[0].value.cooked;
      }
      return undefined;
    }

    function checkSource(source) {
      const text = literalText(source);
      if (text !== undefined) check(source, text);
    }

    return {
      Program(node) {
        if (here.tree === 'src' && hereLayer === -1) {
          context.report({
            node,
            messageId: 'unplaced',
            data: { path: display(root, file, here), order: ORDER, doc: DOC },
          });
        }
      },
      // Value and type-only forms alike: `import type`, `export type … from` count too.
      ImportDeclaration: (node) => checkSource(node.source),
      ExportNamedDeclaration: (node) => checkSource(node.source),
      ExportAllDeclaration: (node) => checkSource(node.source),
      // A dynamic import with the path written out; a computed path is not a static edge.
      ImportExpression: (node) => checkSource(node.source),
      // TypeScript's type-only `typeof import('…')` and `import('…').Name`.
      TSImportType: (node) => checkSource(node.source),
    };
  },
};

export default {
  meta: { name: 'mcpgate-layers' },
  rules: { layers: layersRule },
};
