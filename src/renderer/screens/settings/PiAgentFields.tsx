import { useTranslation } from 'react-i18next';
import type { ProfileView } from '../../../shared/profile.js';
import { DEFAULT_PI_PYTHON, MODBUS_FUNCTIONS, MODBUS_PARITIES, type PiModbus } from '../../../shared/pi-agent.js';
import { CheckboxField, type FieldErrors, num, SelectField, TextField } from '../../components/form.js';

type Parity = (typeof MODBUS_PARITIES)[number];
type RegisterFunction = (typeof MODBUS_FUNCTIONS)[number];
type Count = '1' | '2';

interface SlaveDraft {
  slave: string;
  register: string;
  unit: string;
  scale: string;
  interval: string;
  fn: RegisterFunction;
  count: Count;
  signed: boolean;
}

/** What the form holds for the Pi agent (strings as typed; the shared schema checks them). */
export interface PiAgentDraft {
  python: string;
  modbusOn: boolean;
  port: string;
  baudrate: string;
  parity: Parity;
  bytesize: string;
  stopbits: string;
  timeout: string;
  slaves: SlaveDraft[];
  agentOn: boolean;
  keepalive: string;
  bufferMax: string;
  renewBefore: string;
}

const NEW_SLAVE: SlaveDraft = { slave: '1', register: '0', unit: '', scale: '1', interval: '60', fn: 'holding', count: '1', signed: false };

export function piAgentDraft(pi: ProfileView['pi'] | undefined): PiAgentDraft {
  const m = pi?.modbus;
  const a = pi?.agent;
  return {
    python: pi?.python ?? DEFAULT_PI_PYTHON,
    modbusOn: !!m,
    port: m?.port ?? '/dev/ttyUSB0',
    baudrate: String(m?.baudrate ?? 9600),
    parity: m?.parity ?? 'N',
    bytesize: String(m?.bytesize ?? 8),
    stopbits: String(m?.stopbits ?? 1),
    timeout: String(m?.timeout_s ?? 1),
    slaves: (m?.slaves ?? []).map((s) => ({
      slave: String(s.slave),
      register: String(s.register),
      unit: s.unit,
      scale: String(s.scale),
      interval: String(s.interval),
      fn: s.function,
      count: String(s.count) as Count,
      signed: s.signed,
    })),
    agentOn: !!a,
    keepalive: String(a?.keepaliveSec ?? 30),
    bufferMax: String(a?.bufferMaxMessages ?? 10_000),
    renewBefore: String(a?.renewBeforeDays ?? 30),
  };
}

/** The `pi` fields of a profile request for this draft (checked by ProfileInputSchema). */
export function piAgentRequest(d: PiAgentDraft): Record<string, unknown> {
  return {
    python: d.python,
    ...(d.modbusOn
      ? {
          modbus: {
            port: d.port,
            baudrate: num(d.baudrate),
            parity: d.parity,
            bytesize: num(d.bytesize),
            stopbits: num(d.stopbits),
            timeout_s: num(d.timeout),
            slaves: d.slaves.map((s) => ({
              slave: num(s.slave),
              register: num(s.register),
              unit: s.unit,
              scale: num(s.scale),
              interval: num(s.interval),
              function: s.fn,
              count: num(s.count),
              signed: s.signed,
            })) satisfies Array<Partial<Record<keyof PiModbus['slaves'][number], unknown>>>,
          },
        }
      : {}),
    ...(d.agentOn ? { agent: { keepaliveSec: num(d.keepalive), bufferMaxMessages: num(d.bufferMax), renewBeforeDays: num(d.renewBefore) } } : {}),
  };
}

/** Python path, Modbus RTU readings and agent settings of a Pi profile. */
export function PiAgentFields({ value: d, onChange, errors }: { value: PiAgentDraft; onChange: (d: PiAgentDraft) => void; errors: FieldErrors }) {
  const { t } = useTranslation('settings');
  const set = <K extends keyof PiAgentDraft>(k: K) => (v: PiAgentDraft[K]) => onChange({ ...d, [k]: v });
  const setSlave = (i: number, patch: Partial<SlaveDraft>) => onChange({ ...d, slaves: d.slaves.map((s, j) => (j === i ? { ...s, ...patch } : s)) });
  const e = (field: string) => errors[`pi.${field}`];
  return (
    <>
      <div className="form-grid">
        <TextField name="pi.python" label={t('profiles.python')} hint={t('profiles.pythonHint')} value={d.python} onChange={set('python')} error={e('python')} />
      </div>
      <fieldset>
        <legend>{t('profiles.modbus')}</legend>
        <CheckboxField name="pi.modbusEnabled" label={t('profiles.modbusEnabled')} checked={d.modbusOn} onChange={set('modbusOn')} />
        {d.modbusOn && (
          <>
            <div className="form-grid">
              <TextField name="pi.modbus.port" label={t('profiles.modbusPort')} value={d.port} onChange={set('port')} error={e('modbus.port')} placeholder="/dev/ttyUSB0" />
              <TextField name="pi.modbus.baudrate" label={t('profiles.modbusBaud')} value={d.baudrate} onChange={set('baudrate')} error={e('modbus.baudrate')} inputMode="numeric" />
              <SelectField<Parity>
                name="pi.modbus.parity"
                label={t('profiles.modbusParity')}
                value={d.parity}
                onChange={set('parity')}
                options={MODBUS_PARITIES.map((p) => ({ value: p, label: t(`profiles.parities.${p}`) }))}
                error={e('modbus.parity')}
              />
              <TextField name="pi.modbus.bytesize" label={t('profiles.modbusBytesize')} value={d.bytesize} onChange={set('bytesize')} error={e('modbus.bytesize')} inputMode="numeric" />
              <TextField name="pi.modbus.stopbits" label={t('profiles.modbusStopbits')} value={d.stopbits} onChange={set('stopbits')} error={e('modbus.stopbits')} inputMode="numeric" />
              <TextField name="pi.modbus.timeout_s" label={t('profiles.modbusTimeout')} value={d.timeout} onChange={set('timeout')} error={e('modbus.timeout_s')} />
            </div>
            <h4>{t('profiles.slaves')}</h4>
            {d.slaves.length === 0 && <p className="muted">{t('profiles.noSlaves')}</p>}
            {d.slaves.map((s, i) => {
              const f = (k: string) => e(`modbus.slaves.${i}.${k}`);
              const n = i + 1;
              return (
                <fieldset key={i} data-testid="modbus-slave">
                  <legend>{t('profiles.slaveN', { n })}</legend>
                  <div className="form-grid">
                    <TextField name={`pi.modbus.slaves.${i}.slave`} label={t('profiles.slaveId')} value={s.slave} onChange={(v) => setSlave(i, { slave: v })} error={f('slave')} inputMode="numeric" />
                    <TextField name={`pi.modbus.slaves.${i}.register`} label={t('profiles.register')} value={s.register} onChange={(v) => setSlave(i, { register: v })} error={f('register')} inputMode="numeric" />
                    <SelectField<RegisterFunction>
                      name={`pi.modbus.slaves.${i}.function`}
                      label={t('profiles.function')}
                      value={s.fn}
                      onChange={(v) => setSlave(i, { fn: v })}
                      options={MODBUS_FUNCTIONS.map((x) => ({ value: x, label: t(`profiles.functions.${x}`) }))}
                      error={f('function')}
                    />
                    <SelectField<Count>
                      name={`pi.modbus.slaves.${i}.count`}
                      label={t('profiles.count')}
                      value={s.count}
                      onChange={(v) => setSlave(i, { count: v })}
                      options={(['1', '2'] as const).map((x) => ({ value: x, label: t(`profiles.counts.${x}`) }))}
                      error={f('count')}
                    />
                    <TextField name={`pi.modbus.slaves.${i}.scale`} label={t('profiles.scale')} value={s.scale} onChange={(v) => setSlave(i, { scale: v })} error={f('scale')} />
                    <TextField name={`pi.modbus.slaves.${i}.unit`} label={t('profiles.unit')} value={s.unit} onChange={(v) => setSlave(i, { unit: v })} error={f('unit')} placeholder="°C" />
                    <TextField name={`pi.modbus.slaves.${i}.interval`} label={t('profiles.interval')} value={s.interval} onChange={(v) => setSlave(i, { interval: v })} error={f('interval')} />
                    <CheckboxField name={`pi.modbus.slaves.${i}.signed`} label={t('profiles.signed')} checked={s.signed} onChange={(v) => setSlave(i, { signed: v })} />
                  </div>
                  <button type="button" className="btn" onClick={() => onChange({ ...d, slaves: d.slaves.filter((_, j) => j !== i) })}>
                    {t('profiles.removeSlave', { n })}
                  </button>
                </fieldset>
              );
            })}
            <button type="button" className="btn" onClick={() => onChange({ ...d, slaves: [...d.slaves, { ...NEW_SLAVE }] })}>
              {t('profiles.addSlave')}
            </button>
          </>
        )}
      </fieldset>
      <fieldset>
        <legend>{t('profiles.agent')}</legend>
        <CheckboxField name="pi.agentEnabled" label={t('profiles.agentEnabled')} checked={d.agentOn} onChange={set('agentOn')} />
        {d.agentOn && (
          <div className="form-grid">
            <TextField name="pi.agent.keepaliveSec" label={t('profiles.keepalive')} hint={t('profiles.keepaliveHint')} value={d.keepalive} onChange={set('keepalive')} error={e('agent.keepaliveSec')} inputMode="numeric" />
            <TextField name="pi.agent.bufferMaxMessages" label={t('profiles.bufferMax')} value={d.bufferMax} onChange={set('bufferMax')} error={e('agent.bufferMaxMessages')} inputMode="numeric" />
            <TextField name="pi.agent.renewBeforeDays" label={t('profiles.renewBefore')} hint={t('profiles.renewBeforeHint')} value={d.renewBefore} onChange={set('renewBefore')} error={e('agent.renewBeforeDays')} inputMode="numeric" />
          </div>
        )}
      </fieldset>
    </>
  );
}
