/**
 * Field names profile files had before the one profile model, and their names now (also applied to
 * the profiles stored in settings.json, src/main/settings/settings-store.ts). A file that still
 * uses a former name loads, with a warning per name; a file that gives both names of one field is
 * refused (which one is meant cannot be known).
 */
const RENAMES: ReadonlyArray<readonly [former: string, now: string]> = [
  ['contaId', 'accountId'],
  ['gateway.codigoTemplate', 'codeTemplate'],
  ['gateway.nomeTemplate', 'nameTemplate'],
  ['broker.host', 'brokerHost'],
  ['broker.port', 'brokerPort'],
  ['certificate.keyType', 'keyType'],
  ['certificate.keyMode', 'keyMode'],
  ['certificate.validityDays', 'validityDays'],
  ['esp32.bundle', 'esp32.bundlePath'],
  ['esp32.wifi.ssid', 'esp32.wifiSsid'],
  ['esp32.wifi.password', 'esp32.wifiPassword'],
  // Was a fixed rate (default 921600); now an optional cap, the station picks the rate per USB bridge.
  ['esp32.baud', 'esp32.maxBaud'],
];

/** Former groups that hold nothing else once their fields have moved. */
const FORMER_GROUPS = ['gateway', 'broker', 'certificate', 'esp32.wifi'];

type Json = Record<string, unknown>;

export interface RenamedFields {
  /** The file's JSON with every former name moved to its name now. */
  value: unknown;
  /** "`contaId` is now `accountId`; loaded it, please rename" per former name used. */
  warnings: string[];
  /** Fields given under both names. */
  conflicts: string[];
}

/** Moves former field names to their names now, without changing the input. */
export function renamedProfileFields(input: unknown): RenamedFields {
  if (!isRecord(input)) return { value: input, warnings: [], conflicts: [] };
  const value = structuredClone(input);
  const warnings: string[] = [];
  const conflicts: string[] = [];
  for (const [former, now] of RENAMES) {
    const old = lookup(value, former);
    if (!old.found) continue;
    if (lookup(value, now).found) {
      conflicts.push(`\`${former}\` and \`${now}\` are the same field (\`${former}\` is its former name); keep only \`${now}\``);
      continue;
    }
    remove(value, former);
    place(value, now, old.value);
    warnings.push(`\`${former}\` is now \`${now}\`; loaded it, please rename`);
  }
  for (const group of FORMER_GROUPS) {
    const g = lookup(value, group);
    if (g.found && isRecord(g.value) && Object.keys(g.value).length === 0) remove(value, group);
  }
  return { value, warnings, conflicts };
}

function lookup(root: Json, dotted: string): { found: boolean; value?: unknown } {
  let node: unknown = root;
  for (const key of dotted.split('.')) {
    if (!isRecord(node) || !Object.prototype.hasOwnProperty.call(node, key)) return { found: false };
    node = node[key];
  }
  return { found: true, value: node };
}

function remove(root: Json, dotted: string): void {
  const keys = dotted.split('.');
  const parent = lookup(root, keys.slice(0, -1).join('.'));
  const holder = keys.length === 1 ? root : parent.value;
  if (isRecord(holder)) delete holder[keys.at(-1)!];
}

function place(root: Json, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let node: Json = root;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (!isRecord(next)) node[key] = {};
    node = node[key] as Json;
  }
  node[keys.at(-1)!] = value;
}

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
