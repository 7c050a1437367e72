import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { tempDir } from '../../test/support/temp.js';
import { requireTool } from '../../test/support/tools.js';
import { OpenSsl } from './support/openssl.js';
import { run } from './support/run.js';

/**
 * A client written against the seed's provision_gateway.py contract, in Python with `requests`,
 * doing what that script does: POST {mac_address, codigo, nome, conta_id} to
 * <base>/gateways/provision/ with "Authorization: Token <t>", raise on HTTP errors, and save
 * certs/<mac>/{client.crt, client.key, ca.crt, metadata.json}. Only the base URL and the token
 * differ (and the CA bundle, given the standard way, through REQUESTS_CA_BUNDLE).
 */
const SEED_STYLE_CLIENT = `
import argparse, json, os
from pathlib import Path
import requests

API_BASE_URL = os.environ['SEED_API_BASE_URL']
API_TOKEN = os.getenv('TDS_API_TOKEN')

def provision_gateway(mac_address, codigo, nome, conta_id):
    headers = {'Authorization': f'Token {API_TOKEN}', 'Content-Type': 'application/json'}
    payload = {'mac_address': mac_address, 'codigo': codigo, 'nome': nome, 'conta_id': conta_id}
    response = requests.post(f'{API_BASE_URL}/gateways/provision/', json=payload, headers=headers, timeout=30)
    response.raise_for_status()
    data = response.json()
    cert_dir = Path(f'./certs/{mac_address}')
    cert_dir.mkdir(parents=True, exist_ok=True)
    (cert_dir / 'client.crt').write_text(data['certificate_pem'])
    (cert_dir / 'client.key').write_text(data['private_key_pem'])
    (cert_dir / 'ca.crt').write_text(data['ca_pem'])
    metadata = {k: data[k] for k in ('gateway_id', 'expires_at', 'serial_number', 'mqtt_broker', 'mqtt_port', 'mqtt_topic')}
    metadata.update({'mac_address': mac_address, 'codigo': codigo})
    (cert_dir / 'metadata.json').write_text(json.dumps(metadata, indent=2))
    print('provisioned', data['gateway_id'], data['expires_at'])

if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('--mac', required=True)
    p.add_argument('--codigo', required=True)
    p.add_argument('--nome', required=True)
    p.add_argument('--conta-id', type=int, required=True)
    a = p.parse_args()
    provision_gateway(a.mac, a.codigo, a.nome, a.conta_id)
`;

let server: TestServer;
const work = tempDir('tds-seed-client-');
const ossl = new OpenSsl(work.path);

beforeAll(async () => {
  server = await startTestServer({ mqttBroker: 'onkoto.example', mqttPort: 8883 });
});
afterAll(async () => {
  await server?.stop();
  work.remove();
});

describe('a client written for the seed contract works unchanged', () => {
  it('provisions with the seed script flow and gets a working certificate + key', async () => {
    const python = requireTool('python3', 'python3');
    const check = await run(python, ['-c', 'import requests']);
    expect(check.code, 'python3-requests is missing: run scripts/ensure-test-deps.sh').toBe(0);
    const script = path.join(work.path, 'provision_gateway_client.py');
    const caFile = path.join(work.path, 'ca.pem');
    writeFileSync(script, SEED_STYLE_CLIENT);
    writeFileSync(caFile, server.caPem);
    const mac = 'aa:bb:cc:dd:ee:01';
    const r = await run(python, [script, '--mac', mac, '--codigo', 'GW001', '--nome', 'Gateway Sede Principal', '--conta-id', String(server.contaId)], {
      cwd: work.path,
      env: { SEED_API_BASE_URL: server.apiUrl, TDS_API_TOKEN: server.tokens.operator, REQUESTS_CA_BUNDLE: caFile },
    });
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(/^provisioned \d+ 20\d\d-/);

    const dir = path.join(work.path, 'certs', mac);
    const cert = readFileSync(path.join(dir, 'client.crt'), 'utf8');
    expect((await ossl.verify(readFileSync(path.join(dir, 'ca.crt'), 'utf8'), cert)).ok).toBe(true);
    const fromCert = await ossl.run(['x509', '-noout', '-pubkey', '-in', path.join(dir, 'client.crt')]);
    const fromKey = await ossl.run(['pkey', '-pubout', '-in', path.join(dir, 'client.key')]);
    expect(fromCert.stdout).toBe(fromKey.stdout);
    const meta = JSON.parse(readFileSync(path.join(dir, 'metadata.json'), 'utf8')) as Record<string, unknown>;
    expect(meta).toMatchObject({ mac_address: mac, codigo: 'GW001', mqtt_broker: 'onkoto.example', mqtt_port: 8883, mqtt_topic: `tds_new/devices/${mac}/telemetry` });

    // Same script, same MAC again: the server refuses (409) and requests raises.
    const again = await run(python, [script, '--mac', mac, '--codigo', 'GW001', '--nome', 'x', '--conta-id', String(server.contaId)], {
      cwd: work.path,
      env: { SEED_API_BASE_URL: server.apiUrl, TDS_API_TOKEN: server.tokens.operator, REQUESTS_CA_BUNDLE: caFile },
    });
    expect(again.code).not.toBe(0);
    expect(again.output).toMatch(/409 Client Error: Conflict/);
  });
});
